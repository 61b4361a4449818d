// `ballista validate` on every tests/malformed/*.yaml: each is refused with exit status 2
// (not a crash, not a hang) and the diagnostic its header announces, at the announced
// place. The header is the file's leading comment lines:
//   # expect: TEXT     a diagnostic line contains TEXT (repeatable: all must appear)
//   # at: LINE:COL     that line starts with CASE:LINE:COL: error:
//   # at: -            ... with CASE: error: (the product knows no line)
//   # at: --set X      ... with --set X: error: (an override's errors name the override)
//   # in: FILE         the place is in FILE (relative to the case), not the case itself
//   # set: PATH=VALUE  passed as --set PATH=VALUE (repeatable)
//   # xfail: WHY       a known bug (crash, hang, accepted input): reported, not failed; the
//                      test fails once the case passes, so the marker is removed with the fix
#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace test = ballista::test;

namespace {

struct Case {
  std::filesystem::path file;
  std::vector<std::string> expect;
  std::string at;
  std::vector<std::string> overrides;
  std::string xfail;
  std::filesystem::path in;  // the file the diagnostic is in, when not the case
};

Case read_case(const std::filesystem::path& file) {
  Case result{file, {}, {}, {}, {}, file};
  std::ifstream in(file);
  const auto value = [](const std::string& line, const std::string& key) -> std::optional<std::string> {
    return line.rfind(key, 0) == 0 ? std::optional(line.substr(key.size())) : std::nullopt;
  };
  for (std::string line; std::getline(in, line) && line.rfind('#', 0) == 0;) {
    if (auto text = value(line, "# expect: ")) {
      result.expect.push_back(*text);
    } else if (auto at = value(line, "# at: ")) {
      result.at = *at;
    } else if (auto set = value(line, "# set: ")) {
      result.overrides.push_back(*set);
    } else if (auto why = value(line, "# xfail: ")) {
      result.xfail = *why;
    } else if (auto other = value(line, "# in: ")) {
      result.in = file.parent_path() / *other;
    }
  }
  return result;
}

std::vector<Case> read_cases() {
  std::vector<Case> cases;
  for (const auto& entry : std::filesystem::directory_iterator(test::source_dir() / "tests/malformed")) {
    if (entry.path().extension() == ".yaml") {
      cases.push_back(read_case(entry.path()));
    }
  }
  std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.file < b.file; });
  return cases;
}

// Runs validate with stdout discarded, so only stderr is checked. `timeout` turns a
// hang into exit status 124 and passes a crash on as 128 + signal.
test::CommandResult validate(const Case& c) {
  std::string command = "timeout 10 " + test::shell_quote(test::ballista_binary().string()) + " --plugin-path " +
                        test::shell_quote(test::plugin_dir().string()) + " validate " +
                        test::shell_quote(c.file.string());
  for (const auto& override_text : c.overrides) {
    command += " --set " + test::shell_quote(override_text);
  }
  return test::run_command("{ " + command + " 2>&1 >/dev/null; }");
}

std::string describe_exit(int code) {
  if (code == 124) {
    return "timed out after 10 s";
  }
  if (code > 128) {
    return "killed by signal " + std::to_string(code - 128);
  }
  return "exit status " + std::to_string(code);
}

// The diagnostic line the header announces: at the place, with every expected text.
bool has_expected_diagnostic(const Case& c, const std::string& stderr_text) {
  std::string place = c.in.string() + ":" + c.at;
  if (c.at == "-") {
    place = c.in.string();
  } else if (c.at.rfind("--set ", 0) == 0) {
    place = c.at;
  }
  std::istringstream lines(stderr_text);
  for (std::string line; std::getline(lines, line);) {
    const bool all_there = std::all_of(c.expect.begin(), c.expect.end(),
                                       [&](const std::string& text) { return line.find(text) != std::string::npos; });
    if (line.rfind(place + ": error: ", 0) == 0 && all_there) {
      return true;
    }
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(malformed_pipelines)

BOOST_AUTO_TEST_CASE(each_case_is_refused_with_its_located_diagnostic) {
  const auto cases = read_cases();
  const auto expected_to_pass = std::count_if(cases.begin(), cases.end(), [](const Case& c) { return c.xfail.empty(); });
  BOOST_TEST(expected_to_pass >= 30, "only " << expected_to_pass << " cases in tests/malformed");
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.file.filename().string()) {
      BOOST_TEST_REQUIRE(!c.expect.empty(), "no '# expect:' line");
      BOOST_TEST_REQUIRE(!c.at.empty(), "no '# at:' line");
      const auto result = validate(c);
      const bool passes = result.exit_code == 2 && has_expected_diagnostic(c, result.output);
      if (!c.xfail.empty()) {
        BOOST_TEST(!passes, "known bug fixed? the case now passes: remove its '# xfail:' line");
        BOOST_TEST_MESSAGE(c.file.filename().string() << ": expected failure (" << c.xfail
                                                      << "): " << describe_exit(result.exit_code));
        continue;
      }
      BOOST_TEST(result.exit_code == 2, describe_exit(result.exit_code) << ", stderr:\n" << result.output);
      BOOST_TEST(has_expected_diagnostic(c, result.output),
                 "no line starting with the place '" << c.at << "' and containing every '# expect:' text; stderr:\n"
                                                     << result.output);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
