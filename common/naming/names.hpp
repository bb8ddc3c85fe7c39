/*
 * names.hpp — node names and the replication object names derived from them
 * (pure C++).
 *
 * A node name is 1-24 characters of [a-z0-9_] starting with a letter, with
 * no "__" and no trailing "_", so the derived names below are valid slot
 * names (PostgreSQL allows [a-z0-9_], at most 63 bytes) and name exactly one
 * (provider, subscriber) pair — "__" can only be the separator:
 *   slot on the provider:        concord_<provider>__<subscriber>
 *   origin on the subscriber:    concord_<provider>__<subscriber>
 * Slot and origin share the name so an operator can match them at a glance.
 * Node names compare bytewise (last-update-wins ties break on them).
 */
#pragma once

#include <string>
#include <string_view>

namespace concord::naming {

inline constexpr size_t kMaxNodeNameLength = 24;
inline constexpr std::string_view kPrefix = "concord_";
inline constexpr std::string_view kSeparator = "__";

/* Returns nullptr if name is a valid node name, else why it is not. */
const char *NodeNameProblem(std::string_view name);

/* Name of the slot on `provider` (and origin on `subscriber`) for this link. */
std::string LinkName(std::string_view provider, std::string_view subscriber);

/* Prefix of every slot on `provider` that feeds one of its subscribers. */
std::string ProviderSlotPrefix(std::string_view provider);

/*
 * Recovers the provider's node name from a link name whose subscriber is
 * `subscriber`; empty if the name is not such a link.
 */
std::string ProviderOfLink(std::string_view link_name, std::string_view subscriber);

} // namespace concord::naming
