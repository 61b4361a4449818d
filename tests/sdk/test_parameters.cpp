// Declared parameters: the checks the host applies to what users write.
#include <ballista/device.hpp>
#include <ballista/parameters.hpp>

#include <boost/test/unit_test.hpp>

using ballista::ParameterSpec;
using ballista::ParameterValue;

BOOST_AUTO_TEST_SUITE(parameters)

BOOST_AUTO_TEST_CASE(ranges_are_enforced_with_the_allowed_values_named) {
  const auto k = ParameterSpec::integer("k", 1, "neighbours").at_least(1);
  BOOST_TEST(k.check(ParameterValue{std::int64_t{3}}).empty());
  BOOST_TEST(k.check(ParameterValue{std::int64_t{0}}) == "must be integer >= 1, got 0");
  const auto lr = ParameterSpec::real("lr", 0.01, "rate").greater_than(0).at_most(1);
  BOOST_TEST(lr.check(ParameterValue{0.0}) == "must be real > 0 and <= 1, got 0");
  BOOST_TEST(lr.check(ParameterValue{1.5}) == "must be real > 0 and <= 1, got 1.5");
  BOOST_TEST(lr.check(ParameterValue{1.0}).empty());
}

BOOST_AUTO_TEST_CASE(choices_list_every_allowed_value) {
  const auto solver = ParameterSpec::choice("solver", "lstsq", {"lstsq", "sgd"}, "how");
  BOOST_TEST(solver.check(ParameterValue{std::string("sgd")}).empty());
  BOOST_TEST(solver.check(ParameterValue{std::string("newton")}) == "must be one of: lstsq, sgd, got 'newton'");
}

BOOST_AUTO_TEST_CASE(types_must_match) {
  const auto epochs = ParameterSpec::integer("epochs", 10, "steps");
  BOOST_TEST(epochs.check(ParameterValue{2.5}) == "must be integer, got a real");
  const auto hidden = ParameterSpec::integer_list("hidden", {8}, "sizes").at_least(1).non_empty();
  BOOST_TEST(hidden.check(ParameterValue{std::vector<std::int64_t>{}}) == "must not be empty");
  BOOST_TEST(hidden.check(ParameterValue{std::vector<std::int64_t>{4, 0}}) ==
             "every element must be >= 1, got 0");
}

BOOST_AUTO_TEST_CASE(values_print_as_a_user_writes_them) {
  BOOST_TEST(ballista::to_string(ParameterValue{std::vector<std::int64_t>{256, 256}}) == "[256, 256]");
  BOOST_TEST(ballista::to_string(ParameterValue{0.01}) == "0.01");
  BOOST_TEST(ballista::to_string(ParameterValue{true}) == "true");
}

BOOST_AUTO_TEST_CASE(typed_access_rejects_undeclared_names_and_wrong_types) {
  const ballista::Parameters values({{"k", ParameterValue{std::int64_t{5}}}});
  BOOST_TEST(values.get<std::int64_t>("k") == 5);
  BOOST_CHECK_THROW((void)values.get<double>("k"), std::logic_error);
  BOOST_CHECK_THROW((void)values.get<std::int64_t>("q"), std::logic_error);
}

namespace {

// A context whose host names `device` (a rank's GPU in a distributed run).
class HostDevice final : public ballista::Context {
 public:
  explicit HostDevice(torch::Device device) : device_(device) {}
  void report_progress(std::int64_t /*step*/, std::int64_t /*total*/, double /*loss*/) override {}
  bool cancelled() const override { return false; }
  torch::Device device() const override { return device_; }
  std::uint64_t seed() const override { return 0; }
  void log(ballista::LogLevel /*level*/, std::string_view /*message*/) override {}

 private:
  torch::Device device_;
};

}  // namespace

// device: cuda computes on the GPU the host names (each rank its own); device: cpu stays
// on the CPU whatever the host says, and a host on the CPU leaves the choice alone.
BOOST_AUTO_TEST_CASE(fit_device_puts_a_cuda_choice_on_the_ranks_gpu) {
  const torch::Device rank_gpu(torch::kCUDA, 3);
  BOOST_TEST(ballista::fit_device(torch::kCUDA, HostDevice(rank_gpu)) == rank_gpu);
  BOOST_TEST(ballista::fit_device(torch::kCPU, HostDevice(rank_gpu)) == torch::Device(torch::kCPU));
  BOOST_TEST(ballista::fit_device(torch::kCUDA, HostDevice(torch::kCPU)) == torch::Device(torch::kCUDA));
  BOOST_TEST(ballista::fit_device(torch::kCPU, HostDevice(torch::kCPU)) == torch::Device(torch::kCPU));
}

BOOST_AUTO_TEST_SUITE_END()
