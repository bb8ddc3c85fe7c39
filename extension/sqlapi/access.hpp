/*
 * access.hpp — who may change concord's configuration, and what the server
 * must provide before a node can exist.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

namespace concord::sqlapi {

/* Raises unless the current user is a superuser or a member of concord_admin. */
void RequireAdmin(const char *function_name);

/* Raises unless wal_level = logical and track_commit_timestamp = on. */
void RequireServerSettings();

/* Raises unless concord is preloaded (the workers need its shared memory). */
void RequirePreloaded();

} // namespace concord::sqlapi
