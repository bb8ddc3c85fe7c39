/*
 * tombstone_counters.cpp — merging changes into a tombstone's counters; see
 * tombstone_counters.hpp.
 */
#include "worker/conflict/tombstone_counters.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
}

#include <string_view>

#include "common/sql/statements.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "worker/apply/spi_session.hpp"
#include "worker/conflict/local_version.hpp"

namespace concord::conflict_pg {

using apply::LocalTarget;
using apply::TupleValues;

namespace {

/* A statement of sql::BuildTombstoneCounters for one change, with its parameters. */
struct CounterStatement {
	char *sql;
	int nargs;
	Oid *types;
	Datum *values;
	char *nulls;
	int ncounters;
	int *columns;
};

void AddParam(CounterStatement *s, Oid type, Datum value, char null) {
	s->types[s->nargs] = type;
	s->values[s->nargs] = value;
	s->nulls[s->nargs] = null;
	s->nargs++;
}

/*
 * Parameters: relid, key, then each delta column's new value, old value (a
 * value the peer left out as unchanged is the old one: an increment of 0)
 * and name.  The counters are the table's delta columns in remote column
 * order; columns holds their indexes.
 */
CounterStatement BuildStatement(const Change &c, const TupleValues *new_row, bytea *key, bool store) {
	const LocalTarget *t = &c.rel->target;
	const TupleValues *old_row = c.old_row;
	CounterStatement s{};
	s.columns = static_cast<int *>(palloc(sizeof(int) * Max(t->ncols, 1)));
	auto *names = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(t->ncols, 1)));
	auto *base_types = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(t->ncols, 1)));
	auto *column_types = static_cast<std::string_view *>(palloc(sizeof(std::string_view) * Max(t->ncols, 1)));
	int max_args = 2 + static_cast<int>(sql::kTombstoneCounterParams) * t->ncols;
	s.types = static_cast<Oid *>(palloc(sizeof(Oid) * max_args));
	s.values = static_cast<Datum *>(palloc(sizeof(Datum) * max_args));
	s.nulls = static_cast<char *>(palloc(max_args + 1));
	AddParam(&s, OIDOID, ObjectIdGetDatum(t->relid), ' ');
	AddParam(&s, BYTEAOID, PointerGetDatum(key), ' ');
	for (int col = 0; col < t->ncols; col++) {
		if (!t->is_delta[col])
			continue;
		names[s.ncounters] = std::string_view(c.rel->cols[col].name);
		base_types[s.ncounters] = format_type_be_qualified(getBaseType(t->types[col]));
		column_types[s.ncounters] = format_type_extended(
		    t->types[col], t->typmods[col], FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
		s.columns[s.ncounters++] = col;
		const TupleValues *new_source = new_row->unchanged[col] ? old_row : new_row;
		AddParam(&s, t->types[col], new_source->values[col], new_source->nulls[col]);
		AddParam(&s, t->types[col], old_row->values[col], old_row->nulls[col]);
		AddParam(&s, TEXTOID, CStringGetTextDatum(c.rel->cols[col].name), ' ');
	}
	s.nulls[s.nargs] = '\0';
	s.sql = pg::ToPalloc([&] {
		size_t n = static_cast<size_t>(s.ncounters);
		return sql::BuildTombstoneCounters({names, n}, {base_types, n}, store, {column_types, n});
	});
	return s;
}

} // namespace

void AddToTombstone(const Change &c, bytea *key, const Datum *key_values, const conflict::Version &tombstone) {
	Assert(c.op == conflict::Operation::kUpdate && c.old_is_full);
	CounterStatement s = BuildStatement(c, c.new_row, key, true);
	apply::RequireSpiResult(SPI_execute_with_args(s.sql, s.nargs, s.types, s.values, s.nulls, false, 0),
	                        SPI_OK_UPDATE, "adding a change to a tombstone's counters", c.rel->target.display_name);
	/* A tombstone without counters was not written: its xmin, and any version recorded for it, stand. */
	if (SPI_processed > 0)
		RecordRowVersion(&c.rel->target, key_values, tombstone);
}

const TupleValues *StartFromTombstone(const Change &c, const TupleValues *row, bytea *key) {
	const LocalTarget *t = &c.rel->target;
	CounterStatement s = BuildStatement(c, row, key, false);
	/* Not read-only: that would read with the snapshot of the transaction's BEGIN, not the tombstone locked since. */
	apply::RequireSpiResult(SPI_execute_with_args(s.sql, s.nargs, s.types, s.values, s.nulls, false, 1),
	                        SPI_OK_SELECT, "reading a tombstone's counters", t->display_name);
	if (SPI_processed == 0) {
		SPI_freetuptable(SPI_tuptable);
		return row;
	}
	TupleValues *merged = apply::CopyTupleValues(row);
	for (int i = 0; i < s.ncounters; i++) {
		int col = s.columns[i];
		bool isnull;
		Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
		int16 typlen;
		bool typbyval;
		get_typlenbyval(t->types[col], &typlen, &typbyval);
		/* Copied out of SPI's memory: the tuple table goes now. */
		merged->values[col] = isnull ? (Datum)0 : datumCopy(value, typbyval, typlen);
		merged->nulls[col] = isnull ? 'n' : ' ';
	}
	SPI_freetuptable(SPI_tuptable);
	return merged;
}

} // namespace concord::conflict_pg
