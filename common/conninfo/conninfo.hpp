/*
 * conninfo.hpp — checking and redacting connection strings (plain C++ over libpq's parser).
 *
 * DSNs may hold passwords.  Anything concord shows (views, errors, logs) goes
 * through Redact first, which replaces every password value with "********".
 */
#pragma once

#include <string>

namespace concord::conninfo {

/*
 * Empty if dsn parses (key=value or URI form); otherwise libpq's complaint,
 * with the password text of a URI (which libpq may quote) masked.
 */
std::string ParseProblem(const std::string &dsn);

/*
 * The DSN in key=value form with any password replaced.  A DSN that does not
 * parse is replaced entirely, since we cannot tell where its secrets are.
 */
std::string Redact(const std::string &dsn);

/* True if the DSN carries a password (so only superusers may read it). */
bool HasPassword(const std::string &dsn);

/* Removes every occurrence of `secret` (if non-empty) from text. */
std::string Scrub(std::string text, const std::string &secret);

/* The password in the DSN, or empty. */
std::string PasswordOf(const std::string &dsn);

} // namespace concord::conninfo
