/*
 * resolver_check.hpp — validation of custom conflict resolvers.
 *
 * A resolver for table t has the signature
 *     resolver(local t, remote t, conflict_type text) RETURNS t
 * and returns the row to keep, or NULL to keep the local row.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

namespace concord::sqlapi {

/* Raises a clear error unless `resolver` has the signature above for `relid`. */
void CheckResolverSignature(Oid relid, Oid resolver);

} // namespace concord::sqlapi
