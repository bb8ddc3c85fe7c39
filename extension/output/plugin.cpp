/*
 * plugin.cpp — concord's logical decoding output plugin (the sending side).
 *
 * Sends only changes that originated on this node (filter_by_origin) and only
 * of tables in concord.replicated_table.  A transaction's BEGIN is sent lazily
 * with its first replicated change, so transactions with nothing to send cost
 * nothing on the wire; for those the walsender is still told of the progress
 * so the slot advances.  Each RELATION message precedes the first change of
 * its relation in a session and is re-sent after the relation changes.
 *
 * Options (START_REPLICATION ... (name 'value', ...)):
 *   proto_version  must be 1 (the only version this build speaks)
 *
 * Every callback is wrapped in pg::Entry; the encoding uses concord's
 * protocol::Writer over the walsender's StringInfo, which owns nothing, so a
 * PostgreSQL error raised while appending unwinds no C++ object.
 */
extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

#include "common/protocol/wire.hpp"
#include "extension/bridge/pg_guard.hpp"
#include "extension/bridge/string_info_sink.hpp"
#include "extension/output/relation_cache.hpp"

extern "C" {
void _PG_output_plugin_init(OutputPluginCallbacks *cb);
}

namespace concord::output {

namespace {

using protocol::MessageType;
using protocol::OldTupleKind;
using protocol::ValueKind;

using pg::StringInfoSink;
using Writer = protocol::Writer<StringInfoSink>;

struct PluginState {
	MemoryContext change_context; /* reset after every change */
	MemoryContext cache_context;  /* relation cache, whole session */
	uint32 proto_version;
	StringInfoData batch;         /* framed messages not sent yet */
	uint32 skipped_changes;       /* changes of tables not replicated, for ReportSkippedProgress */
};

/* Changes skipped between two progress reports (as PostgreSQL's own plugin does). */
constexpr uint32 kSkippedChangesPerProgress = 100;

/* Per transaction: has BEGIN gone out? */
struct TxnState {
	bool begin_sent;
};

PluginState *State(LogicalDecodingContext *ctx) { return static_cast<PluginState *>(ctx->output_plugin_private); }

void ParseOptions(List *options, PluginState *state) {
	ListCell *lc;
	bool have_version = false;
	foreach (lc, options) {
		DefElem *opt = static_cast<DefElem *>(lfirst(lc));
		if (strcmp(opt->defname, "proto_version") == 0) {
			char *value = defGetString(opt);
			long v = strtol(value, nullptr, 10);
			if (v != static_cast<long>(protocol::kProtocolVersion))
				ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				                errmsg("concord protocol version %s is not supported by this node", value),
				                errdetail("This node speaks protocol version %u.", protocol::kProtocolVersion),
				                errhint("Run the same concord version on every node.")));
			state->proto_version = static_cast<uint32>(v);
			have_version = true;
		} else {
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			                errmsg("unknown option \"%s\" for output plugin concord", opt->defname)));
		}
	}
	if (!have_version)
		state->proto_version = protocol::kProtocolVersion;
}

void Startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init) {
	auto *state = static_cast<PluginState *>(MemoryContextAllocZero(ctx->context, sizeof(PluginState)));
	state->change_context = AllocSetContextCreate(ctx->context, "concord output change", ALLOCSET_DEFAULT_SIZES);
	state->cache_context = AllocSetContextCreate(ctx->context, "concord output cache", ALLOCSET_DEFAULT_SIZES);
	ctx->output_plugin_private = state;
	MemoryContext old = MemoryContextSwitchTo(ctx->context);
	initStringInfo(&state->batch);
	MemoryContextSwitchTo(old);
	opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
	opt->receive_rewrites = false;
	if (!is_init)
		ParseOptions(ctx->output_plugin_options, state);
	InitRelationCache(state->cache_context);
}

void Shutdown(LogicalDecodingContext *ctx) {}

bool FilterByOrigin(LogicalDecodingContext *ctx, RepOriginId origin_id) {
	/* Changes applied from a peer carry its origin: never forward them. */
	return origin_id != InvalidRepOriginId;
}

/* Sends the batch as one frame. */
void FlushBatch(LogicalDecodingContext *ctx, bool last_write) {
	PluginState *state = State(ctx);
	if (state->batch.len == 0)
		return;
	OutputPluginPrepareWrite(ctx, last_write);
	appendBinaryStringInfo(ctx->out, state->batch.data, state->batch.len);
	OutputPluginWrite(ctx, last_write);
	resetStringInfo(&state->batch);
}

/* Sends a large transaction's batch once it is big enough. */
void FlushIfFull(LogicalDecodingContext *ctx) {
	if (static_cast<size_t>(State(ctx)->batch.len) >= protocol::kBatchBytes)
		FlushBatch(ctx, false);
}

/*
 * One message into the batch: `write` fills it through a Writer; the framer
 * puts its length in front.
 */
template <typename Write>
void AddMessage(LogicalDecodingContext *ctx, Write &&write) {
	StringInfoSink sink{&State(ctx)->batch};
	protocol::MessageFramer<StringInfoSink> framer(sink);
	Writer w(sink);
	framer.Start();
	write(w);
	framer.Finish();
}

void Begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
	txn->output_plugin_private = MemoryContextAllocZero(ctx->context, sizeof(TxnState));
}

void SendBeginIfNeeded(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
	auto *ts = static_cast<TxnState *>(txn->output_plugin_private);
	if (ts->begin_sent)
		return;
	protocol::BeginMessage m;
	m.final_lsn = txn->final_lsn;
	m.commit_time = txn->xact_time.commit_time;
	m.xid = txn->xid;
	m.origin_node = LocalNodeName();
	AddMessage(ctx, [&](Writer &w) { w.Begin(m); });
	ts->begin_sent = true;
}

void SendRelationIfNeeded(LogicalDecodingContext *ctx, Relation rel, RelationEntry *e) {
	if (e->schema_sent)
		return;
	TupleDesc desc = RelationGetDescr(rel);
	char *nspname = get_namespace_name(RelationGetNamespace(rel));
	protocol::RelationHeader h;
	h.relid = RelationGetRelid(rel);
	h.nspname = nspname;
	h.relname = RelationGetRelationName(rel);
	h.replident = rel->rd_rel->relreplident;
	h.natts = static_cast<uint16_t>(e->natts);
	AddMessage(ctx, [&](Writer &w) {
		w.RelationStart(h);
		for (int i = 0; i < e->natts; i++) {
			Form_pg_attribute att = TupleDescAttr(desc, e->attnums[i]);
			protocol::ColumnDef c;
			c.flags = e->is_key[i] ? protocol::kColumnIsKey : 0;
			c.name = NameStr(att->attname);
			c.type_oid = att->atttypid;
			c.typmod = att->atttypmod;
			w.RelationColumn(c);
		}
	});
	e->schema_sent = true;
}

/*
 * Encodes one tuple.  `mark_unchanged`: an on-disk TOAST pointer in the new
 * row of an UPDATE means the value did not change and is not in the WAL.
 */
void WriteTuple(Writer &w, Relation rel, RelationEntry *e, HeapTuple tuple, bool mark_unchanged) {
	TupleDesc desc = RelationGetDescr(rel);
	w.TupleStart(static_cast<uint16_t>(e->natts));
	for (int i = 0; i < e->natts; i++) {
		int idx = e->attnums[i];
		Form_pg_attribute att = TupleDescAttr(desc, idx);
		bool isnull;
		Datum value = heap_getattr(tuple, idx + 1, desc, &isnull);
		if (isnull) {
			w.TupleValue(ValueKind::kNull);
			continue;
		}
		if (att->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value))) {
			if (mark_unchanged) {
				w.TupleValue(ValueKind::kUnchanged);
				continue;
			}
			/* An old row under REPLICA IDENTITY FULL can hold a pointer too; send the value. */
		}
		char *text = OutputFunctionCall(&e->out_funcs[i], value);
		w.TupleValue(ValueKind::kText, text);
	}
}

OldTupleKind OldKind(Relation rel) {
	return rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL ? OldTupleKind::kFull : OldTupleKind::kKey;
}

/*
 * A large transaction on tables that are not replicated is replayed here
 * with nothing to send, possibly for minutes.  Reporting progress now and
 * then lets the walsender read the subscriber's messages and send its
 * keepalives meanwhile (every wal_sender_timeout / 2); without them the
 * subscriber hears nothing, gives up after concord.peer_timeout, and the
 * replay starts over on reconnection, every time.
 */
void ReportSkippedProgress(LogicalDecodingContext *ctx) {
	PluginState *state = State(ctx);
	if (++state->skipped_changes % kSkippedChangesPerProgress == 0)
		OutputPluginUpdateProgress(ctx, false);
}

void Change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel, ReorderBufferChange *change) {
	PluginState *state = State(ctx);
	RelationEntry *e = GetRelationEntry(rel);
	if (!e->replicated) {
		ReportSkippedProgress(ctx);
		return;
	}

	MemoryContext old = MemoryContextSwitchTo(state->change_context);
	HeapTuple newtuple = change->data.tp.newtuple ? &change->data.tp.newtuple->tuple : nullptr;
	HeapTuple oldtuple = change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : nullptr;

	switch (change->action) {
	case REORDER_BUFFER_CHANGE_INSERT:
	case REORDER_BUFFER_CHANGE_UPDATE:
	case REORDER_BUFFER_CHANGE_DELETE:
		break;
	default:
		elog(ERROR, "concord: unexpected change type %d", static_cast<int>(change->action));
	}
	if (change->action == REORDER_BUFFER_CHANGE_DELETE && oldtuple == nullptr)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
		                errmsg("cannot replicate a DELETE on table \"%s\": no replica identity was logged",
		                       RelationGetRelationName(rel)),
		                errhint("Give the table a primary key or REPLICA IDENTITY USING INDEX on every node.")));
	if (change->action != REORDER_BUFFER_CHANGE_DELETE && newtuple == nullptr)
		elog(ERROR, "concord: change without a new row on table \"%s\"", RelationGetRelationName(rel));

	SendBeginIfNeeded(ctx, txn);
	SendRelationIfNeeded(ctx, rel, e);

	AddMessage(ctx, [&](Writer &w) {
		switch (change->action) {
		case REORDER_BUFFER_CHANGE_INSERT:
			w.ChangeStart(MessageType::kInsert, RelationGetRelid(rel));
			WriteTuple(w, rel, e, newtuple, false);
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			w.ChangeStart(MessageType::kUpdate, RelationGetRelid(rel));
			if (oldtuple != nullptr) {
				w.OldTuple(OldKind(rel));
				WriteTuple(w, rel, e, oldtuple, false);
			} else {
				w.OldTuple(OldTupleKind::kNone);
			}
			WriteTuple(w, rel, e, newtuple, true);
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			w.ChangeStart(MessageType::kDelete, RelationGetRelid(rel));
			w.OldTuple(OldKind(rel));
			WriteTuple(w, rel, e, oldtuple, false);
			break;
		default:
			break;
		}
	});
	FlushIfFull(ctx);

	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_context);
}

void Truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations, Relation relations[],
              ReorderBufferChange *change) {
	PluginState *state = State(ctx);
	MemoryContext old = MemoryContextSwitchTo(state->change_context);
	Oid *relids = static_cast<Oid *>(palloc(sizeof(Oid) * nrelations));
	int n = 0;
	for (int i = 0; i < nrelations; i++) {
		RelationEntry *e = GetRelationEntry(relations[i]);
		if (!e->replicated)
			continue;
		SendBeginIfNeeded(ctx, txn);
		SendRelationIfNeeded(ctx, relations[i], e);
		relids[n++] = RelationGetRelid(relations[i]);
	}
	if (n > 0) {
		protocol::TruncateHeader h;
		h.nrels = static_cast<uint32_t>(n);
		h.options = (change->data.truncate.cascade ? protocol::kTruncateCascade : 0) |
		            (change->data.truncate.restart_seqs ? protocol::kTruncateRestartIdentity : 0);
		AddMessage(ctx, [&](Writer &w) {
			w.TruncateStart(h);
			for (int i = 0; i < n; i++)
				w.TruncateRelation(relids[i]);
		});
		FlushIfFull(ctx);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(state->change_context);
}

void Commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn) {
	auto *ts = static_cast<TxnState *>(txn->output_plugin_private);
	bool sent = ts != nullptr && ts->begin_sent;
	if (ts != nullptr) {
		pfree(ts);
		txn->output_plugin_private = nullptr;
	}
	/* Lets the walsender confirm progress past transactions we did not send. */
	OutputPluginUpdateProgress(ctx, !sent);
	if (!sent)
		return;
	protocol::CommitMessage m;
	m.commit_lsn = commit_lsn;
	m.end_lsn = txn->end_lsn;
	m.commit_time = txn->xact_time.commit_time;
	AddMessage(ctx, [&](Writer &w) { w.Commit(m); });
	FlushBatch(ctx, true);
}

/* A clock record of this node's WAL (see protocol::kClockMessagePrefix): passed on as it is. */
void Message(LogicalDecodingContext *ctx, bool transactional, const char *prefix, Size size, const char *content) {
	if (transactional || strcmp(prefix, protocol::kClockMessagePrefix) != 0)
		return;
	if (size != sizeof(TimestampTz))
		ereport(ERROR, (errcode(ERRCODE_DATA_CORRUPTED),
		                errmsg("concord: a clock message of %zu bytes, expected %zu", size, sizeof(TimestampTz))));
	protocol::ClockMessage m;
	TimestampTz now;
	memcpy(&now, content, sizeof(now));
	m.now = now;
	AddMessage(ctx, [&](Writer &w) { w.Clock(m); });
	FlushBatch(ctx, true);
}

} // namespace

} // namespace concord::output

namespace {

using concord::pg::Entry;
namespace out = concord::output;

void StartupCb(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool is_init) {
	Entry([&] { out::Startup(ctx, opt, is_init); });
}
void ShutdownCb(LogicalDecodingContext *ctx) {
	Entry([&] { out::Shutdown(ctx); });
}
bool FilterByOriginCb(LogicalDecodingContext *ctx, RepOriginId origin_id) {
	return Entry([&] { return out::FilterByOrigin(ctx, origin_id); });
}
void BeginCb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
	Entry([&] { out::Begin(ctx, txn); });
}
void ChangeCb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation rel, ReorderBufferChange *change) {
	Entry([&] { out::Change(ctx, txn, rel, change); });
}
void TruncateCb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations, Relation relations[],
                ReorderBufferChange *change) {
	Entry([&] { out::Truncate(ctx, txn, nrelations, relations, change); });
}
void CommitCb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr commit_lsn) {
	Entry([&] { out::Commit(ctx, txn, commit_lsn); });
}
void MessageCb(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr message_lsn, bool transactional,
               const char *prefix, Size message_size, const char *message) {
	Entry([&] { out::Message(ctx, transactional, prefix, message_size, message); });
}

} // namespace

void _PG_output_plugin_init(OutputPluginCallbacks *cb) {
	cb->startup_cb = StartupCb;
	cb->begin_cb = BeginCb;
	cb->change_cb = ChangeCb;
	cb->truncate_cb = TruncateCb;
	cb->commit_cb = CommitCb;
	cb->message_cb = MessageCb;
	cb->filter_by_origin_cb = FilterByOriginCb;
	cb->shutdown_cb = ShutdownCb;
}
