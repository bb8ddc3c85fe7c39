/*
 * names.cpp — validation and derivation of node, slot and origin names.
 */
#include "common/naming/names.hpp"

namespace concord::naming {

const char *NodeNameProblem(std::string_view name) {
	if (name.empty())
		return "A node name must not be empty";
	if (name.size() > kMaxNodeNameLength)
		return "A node name must be at most 24 characters long";
	if (!(name[0] >= 'a' && name[0] <= 'z'))
		return "A node name must start with a lowercase letter";
	for (char c : name) {
		bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
		if (!ok)
			return "A node name may contain only lowercase letters, digits and underscores";
	}
	/* "__" separates the two names of a link; inside or at the end of a name it would blur that. */
	if (name.find(kSeparator) != std::string_view::npos || name.back() == '_')
		return "A node name may not contain two underscores in a row or end with an underscore";
	return nullptr;
}

std::string LinkName(std::string_view provider, std::string_view subscriber) {
	std::string out(kPrefix);
	out.append(provider);
	out.append(kSeparator);
	out.append(subscriber);
	return out;
}

std::string ProviderSlotPrefix(std::string_view provider) {
	std::string out(kPrefix);
	out.append(provider);
	out.append(kSeparator);
	return out;
}

std::string ProviderOfLink(std::string_view link_name, std::string_view subscriber) {
	std::string suffix = std::string(kSeparator) + std::string(subscriber);
	if (link_name.size() <= kPrefix.size() + suffix.size() || link_name.substr(0, kPrefix.size()) != kPrefix ||
	    link_name.substr(link_name.size() - suffix.size()) != suffix)
		return {};
	std::string_view provider = link_name.substr(kPrefix.size(), link_name.size() - kPrefix.size() - suffix.size());
	if (NodeNameProblem(provider) != nullptr)
		return {};
	return std::string(provider);
}

} // namespace concord::naming
