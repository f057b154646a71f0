/*
 * libgit2, the history:
 * loaded on first use (common/dynlib.h), so that a command that never
 * needs it does not pay for loading it and the libraries it brings.
 * Include this after <git2.h>: every function cmsctl calls is listed here,
 * and each name becomes a call through the loaded table.  A function used
 * but not listed fails to link (cmsctl does not link libgit2 itself).
 */
#ifndef CMS_COMMON_LIB_GIT2_H
#define CMS_COMMON_LIB_GIT2_H

#include <git2.h>

#include "common/dynlib.h"

#define CMS_GIT2_SYMBOLS(X) \
	X(git_blob_create_from_buffer) \
	X(git_blob_free) \
	X(git_blob_lookup) \
	X(git_blob_rawcontent) \
	X(git_blob_rawsize) \
	X(git_commit_author) \
	X(git_commit_body) \
	X(git_commit_committer) \
	X(git_commit_create) \
	X(git_commit_free) \
	X(git_commit_id) \
	X(git_commit_lookup) \
	X(git_commit_message) \
	X(git_commit_message_encoding) \
	X(git_commit_parent) \
	X(git_commit_parentcount) \
	X(git_commit_summary) \
	X(git_commit_time) \
	X(git_commit_tree) \
	X(git_config_free) \
	X(git_config_set_bool) \
	X(git_credential_ssh_key_from_agent) \
	X(git_credential_ssh_key_new) \
	X(git_credential_username_new) \
	X(git_diff_free) \
	X(git_diff_get_delta) \
	X(git_diff_num_deltas) \
	X(git_diff_tree_to_tree) \
	X(git_error_last) \
	X(git_fetch_options_init) \
	X(git_graph_ahead_behind) \
	X(git_graph_descendant_of) \
	X(git_libgit2_init) \
	X(git_libgit2_opts) \
	X(git_merge_base) \
	X(git_message_trailer_array_free) \
	X(git_message_trailers) \
	X(git_oid_cpy) \
	X(git_oid_equal) \
	X(git_oid_fromstr) \
	X(git_oid_tostr) \
	X(git_packbuilder_free) \
	X(git_packbuilder_insert_walk) \
	X(git_packbuilder_new) \
	X(git_packbuilder_write) \
	X(git_push_options_init) \
	X(git_reference_create) \
	X(git_reference_create_matching) \
	X(git_reference_free) \
	X(git_reference_lookup) \
	X(git_reference_name_is_valid) \
	X(git_reference_name_to_id) \
	X(git_reference_remove) \
	X(git_reference_symbolic_target) \
	X(git_reference_type) \
	X(git_remote_connect) \
	X(git_remote_create_anonymous) \
	X(git_remote_disconnect) \
	X(git_remote_fetch) \
	X(git_remote_free) \
	X(git_remote_init_callbacks) \
	X(git_remote_ls) \
	X(git_remote_push) \
	X(git_repository_config) \
	X(git_repository_free) \
	X(git_repository_init) \
	X(git_repository_is_bare) \
	X(git_repository_open_ext) \
	X(git_repository_path) \
	X(git_repository_set_head) \
	X(git_repository_set_ident) \
	X(git_revwalk_free) \
	X(git_revwalk_hide) \
	X(git_revwalk_new) \
	X(git_revwalk_next) \
	X(git_revwalk_push) \
	X(git_revwalk_sorting) \
	X(git_signature_free) \
	X(git_signature_new) \
	X(git_tree_create_updated) \
	X(git_tree_entry_byindex) \
	X(git_tree_entry_bypath) \
	X(git_tree_entry_free) \
	X(git_tree_entry_id) \
	X(git_tree_entry_name) \
	X(git_tree_entry_type) \
	X(git_tree_entrycount) \
	X(git_tree_free) \
	X(git_tree_lookup) \
	X(git_treebuilder_free) \
	X(git_treebuilder_new) \
	X(git_treebuilder_write)

struct cms_lib_git2 {
#define CMS_X(n) __typeof__(n) *n;
	CMS_GIT2_SYMBOLS(CMS_X)
#undef CMS_X
};

extern struct cms_dynlib cms_lib_git2_lib;
extern struct cms_lib_git2 cms_lib_git2;

#define CMS_LIB_GIT2 (cms_lib_git2_lib.loaded ? &cms_lib_git2 : (cms_dynlib_require(&cms_lib_git2_lib), &cms_lib_git2))
#define git_blob_create_from_buffer (CMS_LIB_GIT2->git_blob_create_from_buffer)
#define git_blob_free (CMS_LIB_GIT2->git_blob_free)
#define git_blob_lookup (CMS_LIB_GIT2->git_blob_lookup)
#define git_blob_rawcontent (CMS_LIB_GIT2->git_blob_rawcontent)
#define git_blob_rawsize (CMS_LIB_GIT2->git_blob_rawsize)
#define git_commit_author (CMS_LIB_GIT2->git_commit_author)
#define git_commit_body (CMS_LIB_GIT2->git_commit_body)
#define git_commit_committer (CMS_LIB_GIT2->git_commit_committer)
#define git_commit_create (CMS_LIB_GIT2->git_commit_create)
#define git_commit_free (CMS_LIB_GIT2->git_commit_free)
#define git_commit_id (CMS_LIB_GIT2->git_commit_id)
#define git_commit_lookup (CMS_LIB_GIT2->git_commit_lookup)
#define git_commit_message (CMS_LIB_GIT2->git_commit_message)
#define git_commit_message_encoding (CMS_LIB_GIT2->git_commit_message_encoding)
#define git_commit_parent (CMS_LIB_GIT2->git_commit_parent)
#define git_commit_parentcount (CMS_LIB_GIT2->git_commit_parentcount)
#define git_commit_summary (CMS_LIB_GIT2->git_commit_summary)
#define git_commit_time (CMS_LIB_GIT2->git_commit_time)
#define git_commit_tree (CMS_LIB_GIT2->git_commit_tree)
#define git_config_free (CMS_LIB_GIT2->git_config_free)
#define git_config_set_bool (CMS_LIB_GIT2->git_config_set_bool)
#define git_credential_ssh_key_from_agent (CMS_LIB_GIT2->git_credential_ssh_key_from_agent)
#define git_credential_ssh_key_new (CMS_LIB_GIT2->git_credential_ssh_key_new)
#define git_credential_username_new (CMS_LIB_GIT2->git_credential_username_new)
#define git_diff_free (CMS_LIB_GIT2->git_diff_free)
#define git_diff_get_delta (CMS_LIB_GIT2->git_diff_get_delta)
#define git_diff_num_deltas (CMS_LIB_GIT2->git_diff_num_deltas)
#define git_diff_tree_to_tree (CMS_LIB_GIT2->git_diff_tree_to_tree)
#define git_error_last (CMS_LIB_GIT2->git_error_last)
#define git_fetch_options_init (CMS_LIB_GIT2->git_fetch_options_init)
#define git_graph_ahead_behind (CMS_LIB_GIT2->git_graph_ahead_behind)
#define git_graph_descendant_of (CMS_LIB_GIT2->git_graph_descendant_of)
#define git_libgit2_init (CMS_LIB_GIT2->git_libgit2_init)
#define git_libgit2_opts (CMS_LIB_GIT2->git_libgit2_opts)
#define git_merge_base (CMS_LIB_GIT2->git_merge_base)
#define git_message_trailer_array_free (CMS_LIB_GIT2->git_message_trailer_array_free)
#define git_message_trailers (CMS_LIB_GIT2->git_message_trailers)
#define git_oid_cpy (CMS_LIB_GIT2->git_oid_cpy)
#define git_oid_equal (CMS_LIB_GIT2->git_oid_equal)
#define git_oid_fromstr (CMS_LIB_GIT2->git_oid_fromstr)
#define git_oid_tostr (CMS_LIB_GIT2->git_oid_tostr)
#define git_packbuilder_free (CMS_LIB_GIT2->git_packbuilder_free)
#define git_packbuilder_insert_walk (CMS_LIB_GIT2->git_packbuilder_insert_walk)
#define git_packbuilder_new (CMS_LIB_GIT2->git_packbuilder_new)
#define git_packbuilder_write (CMS_LIB_GIT2->git_packbuilder_write)
#define git_push_options_init (CMS_LIB_GIT2->git_push_options_init)
#define git_reference_create (CMS_LIB_GIT2->git_reference_create)
#define git_reference_create_matching (CMS_LIB_GIT2->git_reference_create_matching)
#define git_reference_free (CMS_LIB_GIT2->git_reference_free)
#define git_reference_lookup (CMS_LIB_GIT2->git_reference_lookup)
#define git_reference_name_is_valid (CMS_LIB_GIT2->git_reference_name_is_valid)
#define git_reference_name_to_id (CMS_LIB_GIT2->git_reference_name_to_id)
#define git_reference_remove (CMS_LIB_GIT2->git_reference_remove)
#define git_reference_symbolic_target (CMS_LIB_GIT2->git_reference_symbolic_target)
#define git_reference_type (CMS_LIB_GIT2->git_reference_type)
#define git_remote_connect (CMS_LIB_GIT2->git_remote_connect)
#define git_remote_create_anonymous (CMS_LIB_GIT2->git_remote_create_anonymous)
#define git_remote_disconnect (CMS_LIB_GIT2->git_remote_disconnect)
#define git_remote_fetch (CMS_LIB_GIT2->git_remote_fetch)
#define git_remote_free (CMS_LIB_GIT2->git_remote_free)
#define git_remote_init_callbacks (CMS_LIB_GIT2->git_remote_init_callbacks)
#define git_remote_ls (CMS_LIB_GIT2->git_remote_ls)
#define git_remote_push (CMS_LIB_GIT2->git_remote_push)
#define git_repository_config (CMS_LIB_GIT2->git_repository_config)
#define git_repository_free (CMS_LIB_GIT2->git_repository_free)
#define git_repository_init (CMS_LIB_GIT2->git_repository_init)
#define git_repository_is_bare (CMS_LIB_GIT2->git_repository_is_bare)
#define git_repository_open_ext (CMS_LIB_GIT2->git_repository_open_ext)
#define git_repository_path (CMS_LIB_GIT2->git_repository_path)
#define git_repository_set_head (CMS_LIB_GIT2->git_repository_set_head)
#define git_repository_set_ident (CMS_LIB_GIT2->git_repository_set_ident)
#define git_revwalk_free (CMS_LIB_GIT2->git_revwalk_free)
#define git_revwalk_hide (CMS_LIB_GIT2->git_revwalk_hide)
#define git_revwalk_new (CMS_LIB_GIT2->git_revwalk_new)
#define git_revwalk_next (CMS_LIB_GIT2->git_revwalk_next)
#define git_revwalk_push (CMS_LIB_GIT2->git_revwalk_push)
#define git_revwalk_sorting (CMS_LIB_GIT2->git_revwalk_sorting)
#define git_signature_free (CMS_LIB_GIT2->git_signature_free)
#define git_signature_new (CMS_LIB_GIT2->git_signature_new)
#define git_tree_create_updated (CMS_LIB_GIT2->git_tree_create_updated)
#define git_tree_entry_byindex (CMS_LIB_GIT2->git_tree_entry_byindex)
#define git_tree_entry_bypath (CMS_LIB_GIT2->git_tree_entry_bypath)
#define git_tree_entry_free (CMS_LIB_GIT2->git_tree_entry_free)
#define git_tree_entry_id (CMS_LIB_GIT2->git_tree_entry_id)
#define git_tree_entry_name (CMS_LIB_GIT2->git_tree_entry_name)
#define git_tree_entry_type (CMS_LIB_GIT2->git_tree_entry_type)
#define git_tree_entrycount (CMS_LIB_GIT2->git_tree_entrycount)
#define git_tree_free (CMS_LIB_GIT2->git_tree_free)
#define git_tree_lookup (CMS_LIB_GIT2->git_tree_lookup)
#define git_treebuilder_free (CMS_LIB_GIT2->git_treebuilder_free)
#define git_treebuilder_new (CMS_LIB_GIT2->git_treebuilder_new)
#define git_treebuilder_write (CMS_LIB_GIT2->git_treebuilder_write)

#endif
