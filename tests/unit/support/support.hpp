/*
 * support.hpp — small helpers shared by the unit suites (test code only).
 *
 * ExactBuffer copies bytes into a heap block of exactly their size, so a
 * decoder that reads one byte too far is caught by AddressSanitizer instead of
 * landing in a std::string's spare capacity or terminating NUL.
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace concord::test {

class ExactBuffer {
public:
	explicit ExactBuffer(std::string_view bytes) : size_(bytes.size()), data_(new char[bytes.size()]) {
		if (size_ > 0)
			std::memcpy(data_.get(), bytes.data(), size_);
	}

	const char *data() const { return data_.get(); }
	size_t size() const { return size_; }

private:
	size_t size_;
	std::unique_ptr<char[]> data_;
};

/* Bytes from a list of small integers, e.g. Bytes({0x00, 0x01, 'w'}). */
inline std::string Bytes(std::initializer_list<int> values) {
	std::string out;
	for (int v : values)
		out.push_back(static_cast<char>(static_cast<uint8_t>(v)));
	return out;
}

/* Big-endian encoding of an unsigned integer of `width` bytes. */
inline std::string BigEndian(uint64_t v, int width) {
	std::string out(static_cast<size_t>(width), '\0');
	for (int i = width - 1; i >= 0; i--) {
		out[static_cast<size_t>(i)] = static_cast<char>(v & 0xFF);
		v >>= 8;
	}
	return out;
}

} // namespace concord::test
