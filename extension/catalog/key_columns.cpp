/*
 * key_columns.cpp — the key index and columns of a table; see key_columns.hpp.
 */
#include "extension/catalog/key_columns.hpp"

extern "C" {
#include "access/genam.h"
#include "access/sysattr.h"
#include "catalog/pg_index.h"
#include "utils/relcache.h"
}

namespace concord::catalog {

Oid KeyIndex(Relation rel) {
	Oid index = RelationGetReplicaIndex(rel);
	if (!OidIsValid(index) && rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL)
		index = RelationGetPrimaryKeyIndex(rel);
	return index;
}

Bitmapset *KeyColumns(Relation rel) {
	Oid index_oid = KeyIndex(rel);
	if (!OidIsValid(index_oid))
		return nullptr;
	Relation index = index_open(index_oid, AccessShareLock);
	Bitmapset *columns = nullptr;
	for (int i = 0; i < index->rd_index->indnkeyatts; i++) {
		AttrNumber attnum = index->rd_index->indkey.values[i];
		if (attnum > 0)
			columns = bms_add_member(columns, attnum - FirstLowInvalidHeapAttributeNumber);
	}
	index_close(index, AccessShareLock);
	return columns;
}

} // namespace concord::catalog
