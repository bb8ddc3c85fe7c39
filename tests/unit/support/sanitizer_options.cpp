/*
 * sanitizer_options.cpp — defaults for the sanitizer runtimes, linked into
 * every unit-test executable when CONCORD_SANITIZE is on (test code only).
 *
 * Compiled in rather than passed through the environment, so a test binary
 * run by hand behaves exactly as under ctest.  ASAN_OPTIONS / UBSAN_OPTIONS
 * set in the environment still override these.
 */

extern "C" {

__attribute__((used, visibility("default"))) const char *__asan_default_options() {
	return "detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1";
}

__attribute__((used, visibility("default"))) const char *__ubsan_default_options() {
	return "print_stacktrace=1:halt_on_error=1";
}
}
