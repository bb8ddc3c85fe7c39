/*
 * catalog.hpp — reading and writing concord's catalog tables through SPI.
 *
 * Callers are inside a transaction.  Returned structures are palloc'd in the
 * caller's memory context.  Writes run as the extension's owner, so the
 * catalog tables need grant nothing to anybody else: only concord's functions
 * change them.  All functions here may raise.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "nodes/pg_list.h"
}

namespace concord::catalog {

struct NodeInfo {
	Oid node_id;
	char *node_name;
	char *dsn;
};

struct SubscriptionInfo {
	Oid sub_id;
	char *peer_name;
	char *peer_dsn;
	char *link_name;
	bool enabled;
};

struct TableInfo {
	Oid relid;
	char *conflict_policy;
	Oid resolver;            /* InvalidOid unless policy is custom */
	List *delta_columns;     /* of char * */
};

/* True if the concord extension exists in this database. */
bool ExtensionInstalled();

/* Loads this database's node; false if create_node was not called. */
bool LoadLocalNode(NodeInfo *out);
/* Like LoadLocalNode, but raises a clear error when there is no node. */
void RequireLocalNode(NodeInfo *out);

bool LoadSubscriptionByName(const char *peer_name, SubscriptionInfo *out);
bool LoadSubscriptionById(Oid sub_id, SubscriptionInfo *out);
/* Every subscription, as a List of SubscriptionInfo *. */
List *LoadSubscriptions();

bool LoadTable(Oid relid, TableInfo *out);

/*
 * Runs a catalog-changing statement as the extension owner.  types/values/nulls
 * follow SPI_execute_with_args.  Returns SPI_processed; raises unless the
 * statement returned `expected` (an SPI_OK_* code).
 */
uint64 Write(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected);

/*
 * The role owning the concord extension (cached per process: an extension
 * owner changes only by ALTER EXTENSION ... OWNER, which is not supported).
 */
Oid ExtensionOwner();

/* Copies a string into the context that was current at SPI_connect. */
char *SpiStrdup(const char *s);

} // namespace concord::catalog
