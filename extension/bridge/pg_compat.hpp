/*
 * pg_compat.hpp — PostgreSQL macros that do not compile as C++, redone.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

/* LSN_FORMAT_ARGS uses __builtin_types_compatible_p, which g++ lacks. */
#define CONCORD_LSN_ARGS(lsn) static_cast<uint32>((lsn) >> 32), static_cast<uint32>(lsn)
