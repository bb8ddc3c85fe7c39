/*
 * tuple_values.cpp — text/binary wire values to Datums of the local columns.
 */
#include "worker/apply/tuple_values.hpp"

extern "C" {
#include "lib/stringinfo.h"
}

#include "worker/apply/apply_state.hpp"
#include "worker/apply/run_as_owner.hpp"

namespace concord::apply {

void CheckReader(const protocol::Reader &r, const char *what) {
	if (!r.ok())
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("malformed %s message from peer \"%s\": %s at offset %zu", what, state->peer_name,
		                       r.error(), r.error_offset())));
}

namespace {

void ReadValues(protocol::Reader &r, RemoteRelation *rel, LocalTarget *t, TupleValues *out, bool keep_text) {
	int ncols = r.GetTupleHeader();
	CheckReader(r, "tuple");
	if (ncols != rel->natts)
		ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
		                errmsg("peer \"%s\" sent %d columns for table \"%s\", announced %d", state->peer_name, ncols,
		                       t->display_name, rel->natts)));
	out->ncols = ncols;
	out->values = static_cast<Datum *>(palloc0(sizeof(Datum) * Max(ncols, 1)));
	out->nulls = static_cast<char *>(palloc(Max(ncols, 1)));
	out->unchanged = static_cast<char *>(palloc0(Max(ncols, 1)));
	out->any_unchanged = false;
	out->texts = keep_text ? static_cast<char **>(palloc0(sizeof(char *) * Max(ncols, 1))) : nullptr;
	out->converted = !keep_text;
	/* Input functions run code of the table's owner (a domain's CHECK): with its rights. */
	OwnerScope owner(t->owner);
	for (int c = 0; c < ncols; c++) {
		protocol::Value v;
		r.GetValue(&v);
		CheckReader(r, "tuple");
		out->nulls[c] = ' ';
		switch (v.kind) {
		case protocol::ValueKind::kNull:
			out->nulls[c] = 'n';
			break;
		case protocol::ValueKind::kUnchanged:
			out->nulls[c] = 'n';
			out->unchanged[c] = 1;
			out->any_unchanged = true;
			break;
		case protocol::ValueKind::kText: {
			/* Text never holds a NUL; one would silently cut the value short. */
			if (memchr(v.data.data(), '\0', v.data.size()) != nullptr)
				ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
				                errmsg("peer \"%s\" sent a text value containing a NUL byte for table \"%s\"",
				                       state->peer_name, t->display_name)));
			char *text = pnstrdup(v.data.data(), v.data.size());
			if (keep_text)
				out->texts[c] = text;
			else
				out->values[c] = InputFunctionCall(&t->in_funcs[c], text, t->ioparams[c], t->typmods[c]);
			break;
		}
		case protocol::ValueKind::kBinary:
			ereport(ERROR, (errcode(ERRCODE_PROTOCOL_VIOLATION),
			                errmsg("peer \"%s\" sent a binary value, which protocol version %u does not use",
			                       state->peer_name, protocol::kProtocolVersion)));
		}
	}
	owner.Restore();
}

} // namespace

void ReadTuple(protocol::Reader &r, RemoteRelation *rel, LocalTarget *t, TupleValues *out) {
	ReadValues(r, rel, t, out, false);
}

void ReadTupleText(protocol::Reader &r, RemoteRelation *rel, LocalTarget *t, TupleValues *out) {
	ReadValues(r, rel, t, out, true);
}

TupleValues *CopyTupleValues(const TupleValues *tuple) {
	auto *copy = static_cast<TupleValues *>(palloc(sizeof(TupleValues)));
	*copy = *tuple;
	int n = Max(tuple->ncols, 1);
	copy->values = static_cast<Datum *>(palloc(sizeof(Datum) * n));
	copy->nulls = static_cast<char *>(palloc(n));
	copy->unchanged = static_cast<char *>(palloc(n));
	memcpy(copy->values, tuple->values, sizeof(Datum) * tuple->ncols);
	memcpy(copy->nulls, tuple->nulls, tuple->ncols);
	memcpy(copy->unchanged, tuple->unchanged, tuple->ncols);
	return copy;
}

void ConvertTuple(const LocalTarget *t, TupleValues *tuple) {
	if (tuple->converted)
		return;
	OwnerScope owner(t->owner);
	for (int c = 0; c < tuple->ncols; c++)
		if (tuple->texts[c] != nullptr)
			tuple->values[c] =
			    InputFunctionCall(&t->in_funcs[c], tuple->texts[c], t->ioparams[c], t->typmods[c]);
	owner.Restore();
	tuple->converted = true;
}

bool UniqueIndexValues(const UniqueIndex *u, const TupleValues *row, Datum *values, bool *nulls) {
	for (int i = 0; i < u->ncols; i++) {
		int col = u->cols[i];
		nulls[i] = row->nulls[col] == 'n';
		if (nulls[i] && !u->nulls_not_distinct)
			return false;
		values[i] = nulls[i] ? (Datum)0 : row->values[col];
	}
	return true;
}

} // namespace concord::apply
