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
	Datum *values;     /* local type of each remote column */
	char *nulls;       /* SPI convention: 'n' null, ' ' not null */
	char *unchanged;   /* 1: unchanged TOASTed value, not sent */
	bool any_unchanged;
};

/*
 * Reads one tuple of `rel` from r, converting each value with the local
 * column's input function.  Raises on malformed input.
 */
void ReadTuple(protocol::Reader &r, RemoteRelation *rel, LocalTarget *target, TupleValues *out);

/* Raises a protocol error naming the peer if the reader failed. */
void CheckReader(const protocol::Reader &r, const char *what);

} // namespace concord::apply
