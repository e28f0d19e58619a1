#ifndef NADARAYA_UPDATE_POLICIES_HPP
#define NADARAYA_UPDATE_POLICIES_HPP

#include <Eigen/Core>
#include <cmath>  // std::pow

#include "sgd_options.hpp"

namespace nadaraya {

/// \file update_policies.hpp
/// The built-in update rules of `sgd_minimise<UpdatePolicy>` (optimizers.hpp). Public: a user may
/// pick one at compile time or write another to the contract below.

/// Update policies. Contract (what `sgd_minimise<UpdatePolicy>` asks of its parameter):
/// \code
///   UpdatePolicy(const SgdOptions& options, Eigen::Index parameters);   // state sized once
///   void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient);
/// \endcode

/// theta -= rate * gradient.
class VanillaUpdate {
 public:
  VanillaUpdate(const SgdOptions& /*options*/, Eigen::Index /*parameters*/) {}
  void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient) {
    theta.noalias() -= rate * gradient;
  }
};

/// Heavy-ball momentum: v = momentum v - rate * gradient; theta += v.
class MomentumUpdate {
 public:
  MomentumUpdate(const SgdOptions& options, Eigen::Index parameters)
      : m_momentum(options.momentum), m_velocity(Eigen::VectorXd::Zero(parameters)) {}
  void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient) {
    m_velocity = m_momentum * m_velocity - rate * gradient;
    theta += m_velocity;
  }

 private:
  double m_momentum;           // fraction of the velocity kept per step
  Eigen::VectorXd m_velocity;  // running velocity
};

/// Adam: running means of the gradient and of its square, bias-corrected; each entry moves by
/// about `rate` per step whatever the scale of the objective.
class AdamUpdate {
 public:
  AdamUpdate(const SgdOptions& options, Eigen::Index parameters)
      : m_beta1(options.beta1),
        m_beta2(options.beta2),
        m_epsilon(options.epsilon),
        m_mean(Eigen::VectorXd::Zero(parameters)),
        m_mean_square(Eigen::VectorXd::Zero(parameters)) {}
  void update(Eigen::VectorXd& theta, double rate, const Eigen::VectorXd& gradient) {
    ++m_steps;
    m_mean = m_beta1 * m_mean + (1 - m_beta1) * gradient;
    m_mean_square = m_beta2 * m_mean_square + (1 - m_beta2) * gradient.cwiseAbs2();
    const double t = static_cast<double>(m_steps);
    const double mean_correction = 1 - std::pow(m_beta1, t);
    const double square_correction = 1 - std::pow(m_beta2, t);
    theta.array() -= rate * (m_mean.array() / mean_correction) /
                     ((m_mean_square.array() / square_correction).sqrt() + m_epsilon);
  }

 private:
  double m_beta1;                 // decay of the mean gradient
  double m_beta2;                 // decay of the mean squared gradient
  double m_epsilon;               // keeps the step finite when the gradient vanishes
  Eigen::VectorXd m_mean;         // running mean gradient
  Eigen::VectorXd m_mean_square;  // running mean squared gradient
  Eigen::Index m_steps = 0;       // updates so far, for the bias correction
};

}  // namespace nadaraya

#endif  // NADARAYA_UPDATE_POLICIES_HPP
