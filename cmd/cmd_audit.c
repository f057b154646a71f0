/*
 * cmsctl audit verify: checks the history and the state against each other
 * (state/audit.h) and prints every finding.  The config, when it loads,
 * supplies each store's allowed-signers file so that approval signatures
 * are checked too.  Exit 0 when clean, 1 with findings.
 */
#include "cmd/cmd.h"
#include "common/json.h"
#include "cmd/cmdutil.h"
#include "common/buf.h"
#include "common/util.h"
#include "planner/config.h"
#include "state/audit.h"
#include "state/history.h"
#include "state/state.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cmd_opt cmd_audit_opts[] = {
	{ OPT_STORE, 's', "STORE", "check only this store" },
	{ 0 },
};

void cmd_audit_remote_findings(struct cmd_args *a, struct audit_finding **f, size_t *n)
{
	size_t alloc = *n;
	struct audit_finding *rf;

	/* The shared remote's branch no longer holds what it held: the local
	 * record checked may be whole, the one others read is not. */
	if (!a->backend || !a->backend->rewritten)
		return;
	rf = ARRAY_PUSH(*f, *n, alloc);
	rf->kind = xstrdup("history-rewritten");
	rf->store = NULL;
	rf->message = xstrdup(a->backend->rewritten);
}

/* No history where the config or --history says: an error when the state
 * records a store (its record is somewhere else, or lost), else nothing
 * to verify yet (the counts of the config's stores only). */
static int no_history(struct cmd_args *a, struct state *sdb, const struct config *cfg,
		      struct audit_counts *counts, struct cms_error *err)
{
	struct cms_strv recorded = CMS_STRV_INIT;
	const char *only = cmd_opt_value(a, OPT_STORE);
	size_t i;
	int rc;

	memset(counts, 0, sizeof(*counts));
	if (sdb && (rc = state_list_stores(sdb, &recorded, err)) < 0)
		return rc;
	if (recorded.n) {
		rc = cms_error_set(err, CMS_ERROR, "no history at '%s', but the state at '%s' records "
				   "store '%s'", a->history, a->state, recorded.v[0]);
		cms_error_hint(err, "--history names the history repository (default: the config's "
			       "backend block)");
		cms_strv_free(&recorded);
		return rc;
	}
	for (i = 0; cfg && i < cfg->nstores; i++)
		counts->stores += !only || !strcmp(only, cfg->stores[i].name);
	cmd_note("no history at '%s' yet: nothing to verify", a->history);
	return 0;
}

int cmd_audit(struct cmd_args *a)
{
	struct cms_error err = CMS_ERROR_INIT;
	struct config *cfg = NULL;
	struct history *h = NULL;
	struct state *sdb = NULL;
	struct audit_store *stores = NULL;
	struct audit_finding *f = NULL;
	struct audit_counts counts;
	struct buf out = BUF_INIT;
	size_t nstores = 0, n = 0, i;
	int rc;

	if (strcmp(a->pos[0], "verify") != 0)
		return cmd_unknown_subcommand(a->cmd, a->pos[0], (const char *const[]){ "verify" }, 1);
	/* Without a config the signatures cannot be checked; with a broken
	 * one the diagnostics are printed and the audit stops. */
	if (access(a->config, F_OK) == 0) {
		if ((rc = cmd_load_config(a, &cfg)) != EXIT_OK)
			goto done;
		stores = xcalloc(cfg->nstores ? cfg->nstores : 1, sizeof(*stores));
		for (i = 0; i < cfg->nstores; i++) {
			stores[i].name = cfg->stores[i].name;
			stores[i].allowed_signers = cfg->stores[i].allowed_signers;
		}
		nstores = cfg->nstores;
	}
	if (cmd_backend(a, &err) < 0 || cmd_open_state(a, false, &sdb, &err) < 0)
		goto fail;
	/* Reading never creates a history (a mistyped --history passed, over
	 * an empty repository made for it); one a remote holds is fetched. */
	if (!a->backend->remote && access(a->history, F_OK) != 0 && errno == ENOENT) {
		if ((rc = no_history(a, sdb, cfg, &counts, &err)) < 0)
			goto fail;
	} else if (cmd_open_history(a, &h, &err) < 0 ||
		   audit_verify(h, sdb, stores, nstores, cmd_opt_value(a, OPT_STORE), &f, &n,
				&counts, &err) < 0) {
		goto fail;
	}
	/* -s naming a store no part of the record knows checked nothing: a
	 * typo, not a clean audit. */
	if (cmd_opt_value(a, OPT_STORE) && counts.stores == 0) {
		cms_error_set(&err, CMS_ENOTFOUND, "no store '%s' in %s%s%sthe history '%s' or the "
			      "state: nothing to verify", cmd_opt_value(a, OPT_STORE),
			      cfg ? "'" : "", cfg ? cfg->path : "", cfg ? "', " : "", a->history);
		if (cfg)
			cmd_hint_store(cfg, cmd_opt_value(a, OPT_STORE), &err);
		goto fail;
	}
	cmd_audit_remote_findings(a, &f, &n);
	if (a->json) {
		json_t *o = json_object(), *arr = json_array();

		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s?, s:s}", "kind", f[i].kind,
							     "store", f[i].store, "message",
							     f[i].message));
		json_object_set_new(o, "ok", json_boolean(n == 0));
		json_object_set_new(o, "findings", arr);
		json_object_set_new(o, "checked", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
			"stores", (json_int_t)counts.stores, "plans", (json_int_t)counts.plans,
			"applies", (json_int_t)counts.applies, "approvals",
			(json_int_t)counts.approvals, "locations", (json_int_t)counts.locations,
			"runs", (json_int_t)counts.runs));
		json_object_set_new(o, "signatures_checked", json_boolean(nstores > 0));
		json_object_set_new(o, "state_checked", json_boolean(sdb != NULL));
		cms_json_add(&out, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
	} else {
		for (i = 0; i < n; i++)
			buf_addf(&out, "finding: %s%s%s: %s\n", f[i].store ? f[i].store : "",
				 f[i].store ? ": " : "", f[i].kind, f[i].message);
		buf_addf(&out, "audit verify: %s (%zu store%s, %zu plans, %zu applies, %zu approvals, "
			 "%zu locations, %zu runs checked%s",
			 n ? "FAILED" : "passed", counts.stores, counts.stores == 1 ? "" : "s",
			 counts.plans, counts.applies, counts.approvals, counts.locations, counts.runs,
			 nstores ? "" : "; no config: signatures not checked");
		/* A mistyped --state, or a state gone, must not read as a
		 * full audit. */
		if (!sdb)
			buf_addf(&out, "; no state at '%s': its runs, serials and recorded tip not "
				 "checked", a->state);
		buf_adds(&out, ")\n");
		if (n)
			buf_addf(&out, "%zu finding%s\n", n, n == 1 ? "" : "s");
	}
	if (cmd_write_stdout(out.ptr, out.len, &err) < 0)
		goto fail;
	rc = n ? EXIT_ERROR : EXIT_OK;
	goto done;
fail:
	rc = cmd_fail(&err);
done:
	audit_findings_free(f, n);
	free(stores);
	state_close(sdb);
	history_close(h);
	config_free(cfg);
	buf_free(&out);
	cms_error_clear(&err);
	return rc;
}
