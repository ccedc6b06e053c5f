// The one shape of a result on the data path (per request, stanza or store call): a value, or
// why there is none. Exceptions are for start-up only (a config that cannot load, a key that
// cannot be read, a port in use) and for the store backends' StoreError, which the store's
// worker catches and turns into a failure.
//
// Result<T> fails with an Error: what went wrong (cause) and, when there is one, what the
// operator or client can do about it (fix). Parsers of what arrives (a publish, a POST /push
// body, an ad-hoc command) and the signing of provider tokens fail this way.
//
// The same template takes another failure type where the failure is itself the answer:
//   Result<T, Outcome>       the push domain's resolver and request builders: the failure is
//                            the Outcome the request gets (its kind picks the IQ error or the
//                            HTTP status), so folding it into an Error would lose the answer.
//   Result<T, CommandError>  registration commands: the IQ error condition and its text.
//   Result<T, StoreFailure>  (StoreResult<T>) a store call: its kind (error, timeout, queue
//                            full) decides the answer and the counters, so it stays a kind.
// Result<void, E> is a check that passes or says why not.
//
// A domain alternative is no failure: register_device answers a Registration or a
// QuotaExceeded, both answers from a store that worked, so it stays a std::variant (and a
// store call's StoreResult wraps it).
//
// value() on a failure (or error() on a value) is a bug, and throws (std::bad_variant_access,
// std::bad_optional_access): callers look at ok() first.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace pushgate {

struct Error {
  std::string cause;  // what went wrong; never holds a secret or a token
  std::string fix;    // what can be done about it; empty when there is nothing to suggest
  // "cause; fix", or the cause alone: the text a client or the log gets in one piece.
  std::string message() const { return fix.empty() ? cause : cause + "; " + fix; }
};

template <class T, class E = Error>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cv_t<T>, std::remove_cv_t<E>>, "a value and a failure of one type");

 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit on purpose

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const E& error() const& { return std::get<1>(v_); }
  E&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, E> v_;
};

// A check: passes (default-constructed, or `return {};`) or fails with an E.
template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)) {}  // NOLINT: implicit on purpose

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }

  const E& error() const& { return error_.value(); }
  E&& error() && { return std::move(error_).value(); }

 private:
  std::optional<E> error_;
};

}  // namespace pushgate
