/*
 * HTML escaping for the self-contained pages cmsctl writes (reports, the
 * history page): every value goes through buf_add_html, so a value holding
 * markup is shown as text.
 */
#ifndef CMS_COMMON_HTML_H
#define CMS_COMMON_HTML_H

#include "common/buf.h"

/* Appends s with & < > " ' escaped; NULL appends nothing. */
void buf_add_html(struct buf *b, const char *s);

#endif
