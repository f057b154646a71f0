/*
 * The JSON form of observations, shared by plan files and `status --json`.
 */
#ifndef CMS_PLANNER_OBSERVE_JSON_H
#define CMS_PLANNER_OBSERVE_JSON_H

#include "planner/observe.h"

#include <jansson.h>

/* A new reference: {"probed": ..., "servers": [...]}. */
json_t *observation_to_json(const struct observation *obs);

#endif
