/*
 * secret_guard.cpp — password scrubbing for error reports and the activity
 * text; see secret_guard.hpp.
 */
#include "extension/sqlapi/secret_guard.hpp"

extern "C" {
#include "lib/stringinfo.h"
#include "utils/backend_status.h"
}

namespace concord::sqlapi {

char *ScrubText(const char *text, const char *secret) {
	if (text == nullptr)
		return nullptr;
	return pg::ToPalloc([&] { return conninfo::Scrub(text, secret); });
}

void ScrubActivity(const char *secret) {
	/*
	 * The current text, not debug_query_string: a nested call (join_mesh has
	 * two DSNs) must keep what the outer one already replaced.
	 */
	if (MyBEEntry == nullptr || MyBEEntry->st_activity_raw == nullptr || !pgstat_track_activities)
		return;
	char *current = pstrdup(MyBEEntry->st_activity_raw);
	/* In a SQL literal, a quote inside the password is written twice. */
	StringInfoData quoted;
	initStringInfo(&quoted);
	for (const char *c = secret; *c != '\0'; c++) {
		if (*c == '\'')
			appendStringInfoChar(&quoted, '\'');
		appendStringInfoChar(&quoted, *c);
	}
	bool changed = false;
	for (const char *form : {static_cast<const char *>(secret), static_cast<const char *>(quoted.data)}) {
		if (strstr(current, form) != nullptr) {
			current = ScrubText(current, form);
			changed = true;
		}
	}
	if (changed)
		pgstat_report_activity(STATE_RUNNING, current);
}

} // namespace concord::sqlapi
