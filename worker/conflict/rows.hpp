/*
 * rows.hpp — converting between the remote column order of a change and
 * whole rows of the local table type (for resolvers and the conflict log).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "worker/apply/relation_map.hpp"
#include "worker/apply/tuple_values.hpp"

namespace concord::conflict_pg {

/*
 * The remote row as a composite of the local table type.  Columns the peer
 * did not send (unchanged TOAST values, local-only columns) come from
 * `old_row` when given, else from `local_row` when not 0, else NULL.
 */
Datum RemoteComposite(const apply::LocalTarget *t, const apply::TupleValues *row, const apply::TupleValues *old_row,
                      Datum local_row);

/* Splits a composite of the local table type into remote column order. */
void CompositeToValues(const apply::LocalTarget *t, Datum composite, apply::TupleValues *out);

/* row_to_json of a composite, as a json Datum. */
Datum CompositeToJson(Datum composite);

} // namespace concord::conflict_pg
