/*
 * subscription_ops.hpp — steps shared by unsubscribe, drop_node and leave_mesh.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "extension/catalog/catalog.hpp"

namespace concord::sqlapi {

/*
 * Stops the subscription's worker, deletes its catalog row, and drops its
 * slot on the peer once the transaction commits (the origin is left to the
 * manager, see subscription_ops.cpp).
 */
void RemoveSubscription(const catalog::SubscriptionInfo *sub);

/*
 * Drops a logical slot of this server, disconnecting the walsender that uses
 * it.  Raises if the slot stays in use.
 */
void DropLocalSlot(const char *slot);

/*
 * Removes every subscription of this node, the slots through which
 * subscribers pull from it, and its identity (drop_node, and the last step
 * of leave_mesh).
 */
void RemoveNode(const char *node_name, List *subscriptions);

} // namespace concord::sqlapi
