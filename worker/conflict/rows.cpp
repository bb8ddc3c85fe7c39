/*
 * rows.cpp — remote column order <-> local composite rows; see rows.hpp.
 */
#include "worker/conflict/rows.hpp"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/fmgrprotos.h"
}

namespace concord::conflict_pg {

namespace {

void DeformComposite(const apply::LocalTarget *t, Datum composite, Datum *values, bool *nulls) {
	HeapTupleHeader header = DatumGetHeapTupleHeader(composite);
	HeapTupleData tuple;
	tuple.t_len = HeapTupleHeaderGetDatumLength(header);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = header;
	heap_deform_tuple(&tuple, t->desc, values, nulls);
}

} // namespace

Datum RemoteComposite(const apply::LocalTarget *t, const apply::TupleValues *row, const apply::TupleValues *old_row,
                      Datum local_row) {
	int natts = t->desc->natts;
	Datum *values = static_cast<Datum *>(palloc0(sizeof(Datum) * Max(natts, 1)));
	bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * Max(natts, 1)));
	for (int i = 0; i < natts; i++)
		nulls[i] = true;
	if (local_row != (Datum)0)
		DeformComposite(t, local_row, values, nulls);
	for (int c = 0; c < t->ncols; c++) {
		int a = t->local_attnum[c] - 1;
		if (!row->unchanged[c]) {
			values[a] = row->values[c];
			nulls[a] = row->nulls[c] == 'n';
		} else if (old_row != nullptr && !old_row->unchanged[c]) {
			values[a] = old_row->values[c];
			nulls[a] = old_row->nulls[c] == 'n';
		}
	}
	HeapTuple tuple = heap_form_tuple(t->desc, values, nulls);
	return heap_copy_tuple_as_datum(tuple, t->desc);
}

void CompositeToValues(const apply::LocalTarget *t, Datum composite, apply::TupleValues *out) {
	int natts = t->desc->natts;
	Datum *values = static_cast<Datum *>(palloc0(sizeof(Datum) * Max(natts, 1)));
	bool *nulls = static_cast<bool *>(palloc(sizeof(bool) * Max(natts, 1)));
	DeformComposite(t, composite, values, nulls);
	out->ncols = t->ncols;
	out->values = static_cast<Datum *>(palloc0(sizeof(Datum) * Max(t->ncols, 1)));
	out->nulls = static_cast<char *>(palloc(Max(t->ncols, 1)));
	out->unchanged = static_cast<char *>(palloc0(Max(t->ncols, 1)));
	out->any_unchanged = false;
	for (int c = 0; c < t->ncols; c++) {
		int a = t->local_attnum[c] - 1;
		out->values[c] = values[a];
		out->nulls[c] = nulls[a] ? 'n' : ' ';
	}
}

Datum CompositeToJson(Datum composite) { return DirectFunctionCall1(row_to_json, composite); }

} // namespace concord::conflict_pg
