// Structured logging: one line per event, `key=value` (or JSON), to stderr for journald.
// Device tokens and secrets go through redact() before they reach a field.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace pushgate::log {

enum class Level { Debug = 0, Info, Warn, Error };
enum class Format { KeyValue, Json };

// Process-wide settings; set once at start-up before threads exist.
void set_level(Level level);
void set_format(Format format);
Level level();
// Parses "debug" | "info" | "warn" | "error"; returns false on anything else.
bool parse_level(std::string_view text, Level& out);

using Field = std::pair<std::string_view, std::string>;

// Writes one line: `ts=… level=… event=<event> k=v …`. Values with spaces or quotes are
// quoted. Thread-safe: a line is written with one write(2).
void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});

inline void debug(std::string_view e, std::initializer_list<Field> f = {}) { if (level() <= Level::Debug) write(Level::Debug, e, f); }
inline void info(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Info, e, f); }
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Warn, e, f); }
inline void error(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Error, e, f); }

// The last 6 characters of a token or node prefixed with "…", so a log line can be matched
// to a device without revealing it. Values of 6 characters or fewer become "…" alone.
std::string redact(std::string_view secret_or_token);

}  // namespace pushgate::log
