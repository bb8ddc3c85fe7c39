/*
 * copy_queries.hpp — the SQL an initial copy runs on the peer (pure C++).
 *
 * Four COPY ... TO STDOUT queries per table, under one snapshot: the rows
 * themselves, each row's version (commit timestamp and origin node), keyed
 * by the tombstone key of the row, computed on the peer with the same
 * send() functions and framing (u32 length, bytes) as concord's
 * tombstones; then the peer's tombstones of the table and their versions (a
 * key deleted there stays deleted against older changes here).
 */
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/sql/statements.hpp"

namespace concord::sql {

/* 'text' as an SQL literal (E'' form when it holds a backslash). */
std::string QuoteLiteral(std::string_view text);

/* COPY (SELECT c1, c2 FROM table) TO STDOUT */
std::string BuildCopyRowsQuery(std::string_view qualified_table, Names columns);

/*
 * The tombstone key of row `alias` as a bytea expression:
 *   int4send(length(f1(alias.k1))) || f1(alias.k1) || ...
 * send_functions[i] is the qualified send function of key column i.
 */
std::string BuildKeyExpression(std::string_view alias, Names key_columns, Names send_functions);

/*
 * COPY of (local_relid, key, commit_ts, node) for every row of the table on
 * the peer.  `peer` is the peer's node name; rows for which the peer keeps a
 * recorded version (concord.row_version, same xmin) keep that version.
 */
std::string BuildCopyVersionsQuery(std::string_view qualified_table, uint32_t local_relid, std::string_view key_expr,
                                   std::string_view peer);

/*
 * COPY of (local_relid, key, counters) for every tombstone the peer keeps
 * for the table, except those whose key has a live row there (the row supersedes
 * them, and carries the key's version).  `live_key_expr` is the key
 * expression of the table's rows aliased `live` (BuildKeyExpression).
 */
std::string BuildCopyTombstonesQuery(std::string_view qualified_table, uint32_t local_relid,
                                     std::string_view live_key_expr);

/* The versions of those same tombstones, as BuildCopyVersionsQuery gives them for rows. */
std::string BuildCopyTombstoneVersionsQuery(std::string_view qualified_table, uint32_t local_relid,
                                            std::string_view live_key_expr, std::string_view peer);

} // namespace concord::sql
