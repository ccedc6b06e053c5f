// For tests and fuzz targets: is a text exactly one well-formed XML element, and what is its
// root? Parsed with expat as a whole document, so a second element, text after the root or
// anything malformed makes it fail.
#pragma once

#include <expat.h>

#include <map>
#include <string>

namespace pushgate::test {

struct XmlRoot {
  bool ok = false;  // one well-formed root element and nothing after it
  std::string name;
  std::map<std::string, std::string> attrs;
  int elements = 0;  // all elements, the root included
  std::string error;
};

inline XmlRoot parse_single_element(const std::string& text) {
  XmlRoot root;
  XML_Parser p = XML_ParserCreate("UTF-8");
  XML_SetUserData(p, &root);
  XML_SetStartElementHandler(p, [](void* data, const XML_Char* name, const XML_Char** atts) {
    auto* r = static_cast<XmlRoot*>(data);
    if (r->elements++ == 0) {
      r->name = name;
      for (int i = 0; atts[i] != nullptr; i += 2) r->attrs[atts[i]] = atts[i + 1];
    }
  });
  if (XML_Parse(p, text.data(), static_cast<int>(text.size()), XML_TRUE) == XML_STATUS_OK) {
    root.ok = root.elements > 0;
  } else {
    root.error = XML_ErrorString(XML_GetErrorCode(p));
  }
  XML_ParserFree(p);
  return root;
}

}  // namespace pushgate::test
