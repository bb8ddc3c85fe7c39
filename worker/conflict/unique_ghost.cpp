/*
 * unique_ghost.cpp — ghosts of unique values; see unique_ghost.hpp.
 */
#include "worker/conflict/unique_ghost.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "extension/tombstone/tombstone.hpp"
#include "worker/apply/execute.hpp"
#include "worker/apply/plans.hpp"
#include "worker/apply/spi_session.hpp"

namespace concord::conflict_pg {

namespace {

/*
 * Advisory lock tags of the value locks (field4 tells them from the 1 and 2
 * of pg_advisory_lock's key forms, so no user lock meets them): a value
 * lock is (database, table oid, hash of index and values, 3), the table's
 * (database, table oid, 0, 4).  Value lockers hold the table's in share
 * mode; a transaction that would hold more than kMaxValueLocks value locks
 * (over all tables) takes the table's exclusively instead, so that a large
 * remote transaction does not fill the shared lock table.
 */
constexpr uint16 kValueLockField = 3;
constexpr uint16 kTableLockField = 4;
constexpr uint32 kMaxValueLocks = 64;

/* Value locks taken in transaction counted_lxid, over all tables (they share the lock table). */
LocalTransactionId counted_lxid = InvalidLocalTransactionId;
uint32 value_locks = 0;

SPIPlanPtr ghost_upsert = nullptr;
SPIPlanPtr ghost_lookup = nullptr;

/*
 * The encoded values of row in u's columns; nullptr when one is NULL and
 * the index does not treat NULLs as equal (such a row collides with none),
 * or when a column's type has no binary form (the index has no ghosts).
 */
bytea *IndexValue(const apply::UniqueIndex *u, const apply::TupleValues *row) {
	if (u->send == nullptr)
		return nullptr;
	Datum *values = static_cast<Datum *>(palloc0(sizeof(Datum) * Max(u->ncols, 1)));
	bool *nulls = static_cast<bool *>(palloc0(sizeof(bool) * Max(u->ncols, 1)));
	if (!apply::UniqueIndexValues(u, row, values, nulls))
		return nullptr;
	return tombstone::BuildKey(u->ncols, u->send, values, nulls);
}

int CompareLockKeys(const void *a, const void *b) {
	uint32 x = *static_cast<const uint32 *>(a);
	uint32 y = *static_cast<const uint32 *>(b);
	return x < y ? -1 : x > y ? 1 : 0;
}

} // namespace

void LockUniqueValues(apply::LocalTarget *t, const apply::TupleValues *row) {
	/* The counts start again in each transaction. */
	if (counted_lxid != MyProc->lxid) {
		counted_lxid = MyProc->lxid;
		value_locks = 0;
	}
	if (t->table_locked_lxid == MyProc->lxid)
		return;
	LOCKTAG table_tag;
	SET_LOCKTAG_ADVISORY(table_tag, MyDatabaseId, t->relid, 0, kTableLockField);
	uint32 *keys = static_cast<uint32 *>(palloc(sizeof(uint32) * Max(t->nuniques, 1)));
	int n = 0;
	bool whole_table = false;
	for (int i = 0; i < t->nuniques; i++) {
		const apply::UniqueIndex *u = &t->uniques[i];
		whole_table |= u->send == nullptr; /* values without a binary form: no key to lock them by */
		bytea *value = IndexValue(u, row);
		if (value == nullptr)
			continue;
		uint32 h = DatumGetUInt32(hash_any(reinterpret_cast<const unsigned char *>(u->columns), strlen(u->columns)));
		keys[n++] = hash_combine(h, DatumGetUInt32(hash_any(reinterpret_cast<const unsigned char *>(VARDATA(value)),
		                                                    VARSIZE(value) - VARHDRSZ)));
	}
	/*
	 * Such a table is locked whole from its first row on: the transaction
	 * holds none of this table's value locks, so it cannot deadlock with
	 * the workers it waits for over this table's locks.  (Over other
	 * tables' locks it can, as with any locks taken in differing orders:
	 * PostgreSQL then cancels one, and its transaction is applied again.)
	 */
	if (whole_table) {
		(void)LockAcquire(&table_tag, ExclusiveLock, false, false);
		t->table_locked_lxid = MyProc->lxid;
		return;
	}
	/*
	 * Past kMaxValueLocks the table is locked whole instead, if no other
	 * worker holds it: waiting while holding its share lock would deadlock
	 * with any worker waiting for one of this transaction's value locks.
	 * If it is held, the value locks go on, and the next row tries again.
	 */
	if (value_locks + n > kMaxValueLocks &&
	    LockAcquire(&table_tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL) {
		t->table_locked_lxid = MyProc->lxid;
		return;
	}
	(void)LockAcquire(&table_tag, ShareLock, false, false);
	/* In one order, so two workers locking the values of one row each cannot deadlock over them. */
	qsort(keys, n, sizeof(uint32), CompareLockKeys);
	for (int i = 0; i < n; i++) {
		if (i > 0 && keys[i] == keys[i - 1])
			continue;
		LOCKTAG tag;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, t->relid, keys[i], kValueLockField);
		/* Counted once: a value this transaction locked before costs no new entry. */
		if (LockAcquire(&tag, ExclusiveLock, false, false) == LOCKACQUIRE_OK)
			value_locks++;
	}
}

void RememberGhosts(const apply::LocalTarget *t, const apply::TupleValues *row, const Datum *key_values,
                    const conflict::Version &version) {
	if (ghost_upsert == nullptr) {
		Oid types[6] = {OIDOID, TEXTOID, BYTEAOID, BYTEAOID, TIMESTAMPTZOID, TEXTOID};
		/* A key that gave way twice with the same values keeps its newest version. */
		ghost_upsert = apply::PrepareKept(
		    "INSERT INTO concord.unique_ghost AS g (relid, index_columns, value, key, commit_ts, node) "
		    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (relid, index_columns, pg_catalog.sha256(value), "
		    "pg_catalog.sha256(key)) DO UPDATE "
		    "SET commit_ts = EXCLUDED.commit_ts, node = EXCLUDED.node WHERE g.commit_ts IS NULL OR "
		    "(EXCLUDED.commit_ts, EXCLUDED.node COLLATE \"C\") > (g.commit_ts, g.node COLLATE \"C\")",
		    6, types);
	}
	bytea *key = apply::TombstoneKey(t, key_values);
	char *node = pnstrdup(version.node.data(), version.node.size());
	for (int i = 0; i < t->nuniques; i++) {
		const apply::UniqueIndex *u = &t->uniques[i];
		bytea *value = IndexValue(u, row);
		if (value == nullptr)
			continue;
		Datum params[6] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(u->columns), PointerGetDatum(value),
		                   PointerGetDatum(key),       TimestampTzGetDatum(version.commit_ts),
		                   CStringGetTextDatum(node)};
		char nulls[7] = {' ', ' ', ' ', ' ', version.ts_known ? ' ' : 'n', ' ', '\0'};
		apply::ExecutePlan(ghost_upsert, params, nulls, 0, SPI_OK_INSERT, "remembering a row's unique values");
	}
}

conflict::Version NewestGhost(const apply::LocalTarget *t, const apply::UniqueIndex *u, const apply::TupleValues *row,
                              const Datum *key_values, char **node_store) {
	conflict::Version newest;
	bytea *value = IndexValue(u, row);
	if (value == nullptr)
		return newest;
	if (ghost_lookup == nullptr) {
		Oid types[4] = {OIDOID, TEXTOID, BYTEAOID, BYTEAOID};
		/* The digest finds the entries through the index; the value itself decides. */
		ghost_lookup = apply::PrepareKept(
		    "SELECT commit_ts, node, xmin FROM concord.unique_ghost WHERE relid = $1 AND index_columns = $2 AND "
		    "pg_catalog.sha256(value) = pg_catalog.sha256($3) AND value = $3 AND key <> $4",
		    4, types);
	}
	Datum params[4] = {ObjectIdGetDatum(t->relid), CStringGetTextDatum(u->columns), PointerGetDatum(value),
	                   PointerGetDatum(apply::TombstoneKey(t, key_values))};
	apply::ExecutePlan(ghost_lookup, params, nullptr, 0, SPI_OK_SELECT, "looking up the ghosts of unique values");
	for (uint64 r = 0; r < SPI_processed; r++) {
		HeapTuple tuple = SPI_tuptable->vals[r];
		bool isnull;
		/*
		 * Written by the transaction being applied: the state it records
		 * is one the peer passed through inside that transaction, which its
		 * later writes do not lose to.
		 */
		Datum xmin = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 3, &isnull);
		if (!isnull && TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin)))
			continue;
		Datum ts = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull);
		conflict::Version v;
		v.exists = true;
		v.ts_known = !isnull;
		v.commit_ts = isnull ? 0 : DatumGetTimestampTz(ts);
		char *node = SPI_getvalue(tuple, SPI_tuptable->tupdesc, 2);
		v.node = node != nullptr ? node : "";
		if (!newest.exists || conflict::Newer(v, newest)) {
			*node_store = pstrdup(node != nullptr ? node : "");
			newest = v;
			newest.node = *node_store;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return newest;
}

} // namespace concord::conflict_pg
