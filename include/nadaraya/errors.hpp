#ifndef NADARAYA_ERRORS_HPP
#define NADARAYA_ERRORS_HPP

#include <stdexcept>  // std::runtime_error
#include <string>

namespace nadaraya {

/// The one base of every exception the library throws: `catch (const nadaraya::Error&)` catches
/// them all. Messages name the function, the argument and, where it applies, the row and column.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An argument was malformed: wrong shape, non-finite value, negative weight, bad bandwidth...
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

/// An estimator was used before `fit()`.
class NotFitted : public Error {
 public:
  using Error::Error;
};

}  // namespace nadaraya

#endif  // NADARAYA_ERRORS_HPP
