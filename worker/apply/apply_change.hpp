/*
 * apply_change.hpp — applying one decoded change to the local database.
 *
 * Called inside the local transaction that mirrors the remote one, with an
 * active snapshot pushed and SPI connected.  Every statement runs as the
 * owner of the target table inside a security-restricted operation, so
 * triggers, defaults and constraints of that table gain no privilege the
 * owner lacks.  All functions may raise; the caller aborts and retries.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "common/protocol/wire.hpp"

namespace concord::apply {

void ApplyInsert(protocol::Reader &r);
void ApplyUpdate(protocol::Reader &r);
void ApplyDelete(protocol::Reader &r);
void ApplyTruncate(protocol::Reader &r);

} // namespace concord::apply
