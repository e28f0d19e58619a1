// Catch2's main, compiled once (object library nadaraya_catch_main) and linked into every test
// executable. It first prints the instruction set the tests were compiled for.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <iostream>

#include "support/simd.hpp"

int main(int argc, char* argv[]) {
  std::cout << nadaraya_test::simd_description() << std::endl;
  return Catch::Session().run(argc, argv);
}
