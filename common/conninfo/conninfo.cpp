/*
 * conninfo.cpp — DSN parsing and redaction on top of PQconninfoParse.
 */
#include "common/conninfo/conninfo.hpp"

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

} // namespace

std::string ParseProblem(const std::string &dsn) {
	ParsedConninfo parsed(dsn);
	std::string problem = parsed.error();
	while (!problem.empty() && (problem.back() == '\n' || problem.back() == ' '))
		problem.pop_back();
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
	static const std::string kMask = "********";
	size_t at = 0;
	while ((at = text.find(secret, at)) != std::string::npos) {
		text.replace(at, secret.size(), kMask);
		at += kMask.size();
	}
	return text;
}

} // namespace concord::conninfo
