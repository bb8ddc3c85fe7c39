/*
 * tuple_values.hpp — a remote tuple converted to local Datums.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/protocol/wire.hpp"
#include "worker/apply/relation_map.hpp"

namespace concord::apply {

struct TupleValues {
	int ncols;
	Datum *values;     /* local type of each remote column (see texts) */
	char *nulls;       /* SPI convention: 'n' null, ' ' not null */
	char *unchanged;   /* 1: unchanged TOASTed value, not sent */
	bool any_unchanged;
	char **texts;      /* the values as sent (text form), when kept; values then filled on demand */
	bool converted;    /* values[] hold the converted Datums */
};

/*
 * Reads one tuple of `rel` from r, converting each value with the local
 * column's input function.  Raises on malformed input.
 */
void ReadTuple(protocol::Reader &r, RemoteRelation *rel, LocalTarget *target, TupleValues *out);

/*
 * Like ReadTuple, but keeps the text of each value and converts nothing yet
 * (a batch may hand the text straight to COPY).  Convert with ConvertTuple.
 */
void ReadTupleText(protocol::Reader &r, RemoteRelation *rel, LocalTarget *target, TupleValues *out);

/*
 * A copy of a converted tuple whose values, nulls and unchanged flags are
 * its own, for the caller to change (the Datums themselves are shared).
 */
TupleValues *CopyTupleValues(const TupleValues *tuple);

/*
 * The row's values in the columns of unique index u (index column order)
 * into values[] and nulls[] (u->ncols each).  False when one is NULL and
 * the index treats NULLs as distinct: such a row collides with no other.
 */
bool UniqueIndexValues(const UniqueIndex *u, const TupleValues *row, Datum *values, bool *nulls);

/* Fills values[] from texts[] with the local input functions (no-op if done). */
void ConvertTuple(const LocalTarget *target, TupleValues *tuple);

/* Raises a protocol error naming the peer if the reader failed. */
void CheckReader(const protocol::Reader &r, const char *what);

} // namespace concord::apply
