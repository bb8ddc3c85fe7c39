/*
 * apply_state.hpp — the state of one apply worker (one per subscription).
 *
 * One instance per process, in the worker's long-lived context.  Fields
 * describing the remote transaction being applied are valid between its
 * BEGIN and COMMIT messages only.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "replication/origin.h"
}

namespace concord::apply {

struct ApplyState {
	/* Identity, loaded at start. */
	Oid sub_id;
	char *peer_name;
	char *peer_dsn;
	char *link_name;     /* slot on the peer, origin here */
	char *node_name;     /* this node */
	Datum peer_name_text; /* peer_name as a text Datum (a parameter of every guarded statement) */
	RepOriginId origin;

	/* The remote transaction in progress. */
	bool in_remote_xact;
	bool skipping;                 /* operator asked to skip this one */
	bool careful;                  /* check every insert for an existing key (see careful_lsn) */
	bool optimistic_insert_done;   /* a plain INSERT ran in this transaction */
	XLogRecPtr remote_final_lsn;
	TimestampTz remote_commit_time;
	char *remote_origin_node;      /* from BEGIN; equals peer_name */
	uint64 changes_in_xact;

	/* For the error context callback. */
	const char *current_action;
	const char *current_relation;

	/* Memory reset after every message. */
	MemoryContext message_context;
	/* Holds the relation map and prepared plans for the worker's lifetime. */
	MemoryContext cache_context;
};

extern ApplyState *state;

} // namespace concord::apply
