// Minimal JSON text building for hot paths (one record per push), where building a
// nlohmann::json tree first would cost more than the push itself.
#pragma once

#include <string>
#include <string_view>

namespace pushgate {

// Appends `value` as a JSON string literal (quotes included). Control characters are
// escaped; bytes that are not valid UTF-8 become U+FFFD, so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view value);

}  // namespace pushgate
