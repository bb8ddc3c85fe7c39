/*
 * conninfo.cpp — DSN parsing and redaction on top of PQconninfoParse.
 */
#include "common/conninfo/conninfo.hpp"

#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include <libpq-fe.h>

namespace concord::conninfo {

namespace {

/* Owns the result of PQconninfoParse for one scope. */
class ParsedConninfo {
public:
	explicit ParsedConninfo(const std::string &dsn) {
		char *err = nullptr;
		options_ = PQconninfoParse(dsn.c_str(), &err);
		if (err != nullptr) {
			error_ = err;
			PQfreemem(err);
		} else if (options_ == nullptr) {
			error_ = "out of memory";
		}
	}
	~ParsedConninfo() {
		if (options_ != nullptr)
			PQconninfoFree(options_);
	}
	ParsedConninfo(const ParsedConninfo &) = delete;
	ParsedConninfo &operator=(const ParsedConninfo &) = delete;

	const PQconninfoOption *options() const { return options_; }
	const std::string &error() const { return error_; }

private:
	PQconninfoOption *options_ = nullptr;
	std::string error_;
};

void AppendValue(std::string *out, const char *value) {
	out->push_back('\'');
	for (const char *p = value; *p; p++) {
		if (*p == '\'' || *p == '\\')
			out->push_back('\\');
		out->push_back(*p);
	}
	out->push_back('\'');
}

/*
 * The password texts of a URI-form DSN exactly as written (still
 * percent-encoded): the user:password@ part and any password= or
 * sslpassword= query parameter.  Works on DSNs libpq rejects, whose
 * complaint may quote the URI or one of its tokens.  Empty for key=value DSNs.
 */
std::vector<std::string> UriPasswordTexts(const std::string &dsn) {
	std::vector<std::string> out;
	size_t scheme = dsn.find("://");
	if (scheme == std::string::npos)
		return out;
	/* Like libpq: the user info ends at the first '@' before any '/'. */
	size_t start = scheme + 3;
	size_t at = dsn.find_first_of("@/", start);
	if (at != std::string::npos && dsn[at] == '@') {
		size_t colon = dsn.find(':', start);
		if (colon != std::string::npos && colon < at && at > colon + 1)
			out.push_back(dsn.substr(colon + 1, at - colon - 1));
	}
	size_t query = dsn.find('?', start);
	while (query != std::string::npos) {
		size_t begin = query + 1;
		size_t end = dsn.find('&', begin);
		std::string param = dsn.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
		for (const char *key : {"password=", "sslpassword="}) {
			size_t key_len = std::strlen(key);
			if (param.compare(0, key_len, key) == 0 && param.size() > key_len)
				out.push_back(param.substr(key_len));
		}
		query = end;
	}
	return out;
}

} // namespace

std::string ParseProblem(const std::string &dsn) {
	ParsedConninfo parsed(dsn);
	std::string problem = parsed.error();
	while (!problem.empty() && (problem.back() == '\n' || problem.back() == ' '))
		problem.pop_back();
	/* libpq quotes URIs and URI tokens in its complaints; the password may be among them. */
	if (!problem.empty())
		for (const std::string &secret : UriPasswordTexts(dsn))
			problem = Scrub(std::move(problem), secret);
	return problem;
}

std::string Redact(const std::string &dsn) {
	ParsedConninfo parsed(dsn);
	if (parsed.options() == nullptr)
		return "(unparsable connection string)";
	std::string out;
	for (const PQconninfoOption *o = parsed.options(); o->keyword != nullptr; o++) {
		if (o->val == nullptr)
			continue;
		if (!out.empty())
			out.push_back(' ');
		out.append(o->keyword);
		out.push_back('=');
		bool secret = std::string(o->keyword) == "password" || (o->dispchar != nullptr && o->dispchar[0] == '*');
		AppendValue(&out, secret ? "********" : o->val);
	}
	return out;
}

std::string PasswordOf(const std::string &dsn) {
	ParsedConninfo parsed(dsn);
	if (parsed.options() == nullptr)
		return {};
	for (const PQconninfoOption *o = parsed.options(); o->keyword != nullptr; o++)
		if (o->val != nullptr && std::string(o->keyword) == "password")
			return o->val;
	return {};
}

bool HasPassword(const std::string &dsn) { return !PasswordOf(dsn).empty(); }

std::string Scrub(std::string text, const std::string &secret) {
	if (secret.empty())
		return text;
	constexpr std::string_view kMask = "********";
	/*
	 * Occurrences are found in the original text, and overlapping ones
	 * ("abab" in "ababab") share one mask, so no part of any occurrence
	 * survives; a secret that the mask itself contains cannot loop.
	 */
	size_t at = text.find(secret);
	if (at == std::string::npos)
		return text;
	std::string out;
	size_t copied = 0;
	while (at != std::string::npos) {
		size_t end = at + secret.size();
		for (size_t next = text.find(secret, at + 1); next != std::string::npos && next < end;
		     next = text.find(secret, next + 1))
			end = next + secret.size();
		out.append(text, copied, at - copied);
		out.append(kMask);
		copied = end;
		at = text.find(secret, end);
	}
	out.append(text, copied, std::string::npos);
	return out;
}

} // namespace concord::conninfo
