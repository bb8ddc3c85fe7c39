/*
 * key_columns.hpp — which columns identify a replicated row.
 *
 * The key is the replica identity index (the primary key by default, or
 * REPLICA IDENTITY USING INDEX); under REPLICA IDENTITY FULL — needed for
 * delta columns — it is the primary key.  The output plugin marks these
 * columns, the apply worker finds rows by them, and tombstones are keyed by
 * them, so all three use this one definition.
 */
#pragma once

extern "C" {
#include "postgres.h"

#include "nodes/bitmapset.h"
#include "utils/rel.h"
}

namespace concord::catalog {

/* The index whose columns form the key, or InvalidOid if the table has none. */
Oid KeyIndex(Relation rel);

/*
 * The key columns as a bitmap of attnum - FirstLowInvalidHeapAttributeNumber
 * (PostgreSQL's convention); empty if there is no key.
 */
Bitmapset *KeyColumns(Relation rel);

} // namespace concord::catalog
