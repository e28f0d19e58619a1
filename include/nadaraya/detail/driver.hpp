#ifndef NADARAYA_DETAIL_DRIVER_HPP
#define NADARAYA_DETAIL_DRIVER_HPP
// IWYU pragma: private, include <nadaraya/nadaraya.hpp>

#include <Eigen/Core>
#include <algorithm>  // std::min, std::max
#include <type_traits>
#include <utility>  // std::declval

#include "../config.hpp"  // NADARAYA_HAS_OPENMP
#include "lanes.hpp"      // Index, lane_count
#include "score.hpp"      // TileShape: the padding granule

namespace nadaraya {
namespace detail {

/// \file driver.hpp
/// The one loop nest that every O(n m) sum of the library runs on: pooling (densities,
/// predictions, leave-one-out, `attention`), the materialised attention weights, and every
/// bandwidth objective with its gradient. What differs between them is the block accumulator
/// (see `drive`); the rules below are shared, so that a change to any of them reaches all sums.
///
/// - Blocks: keys are padded to a multiple of `PassShape::key_granule<Scalar>` (weight zero on
///   the padding) and walked in blocks of `block_keys<Scalar>(d)`, the last one shorter.
/// - Items: groups of `PassShape::group_queries` queries x one shard of the key blocks. When
///   there are few groups the keys are cut into shards, whose per-query states the accumulator
///   merges afterwards in shard order (exact log-sum-exp merges).
/// - Threads: items run in parallel (dynamic schedule), one thread per
///   `PassShape::pairs_per_thread` pairs at most. The cut depends on m and n only, never on the
///   number of threads, and each item's arithmetic is fixed, so results are bit-identical for any
///   number of threads.

/// Sizes of the passes (compile-time constants).
struct PassShape {
  static constexpr Index block_keys = 256;     ///< keys per block at most (a power of two)
  static constexpr Index min_block_keys = 32;  ///< keys per block at least
  /// Blocks are halved until their keys take at most this much (64 KiB: with the scores and the
  /// values they stay in L2 while the queries of an item read them).
  static constexpr Index max_block_bytes = Index{64} * 1024;
  static constexpr Index group_queries = 32;         ///< queries per item
  static constexpr Index shard_min_blocks = 16;      ///< a key shard holds at least 16 blocks
  static constexpr Index target_items = 64;          ///< shards are added until there are this many
  static constexpr double pairs_per_thread = 16384;  ///< a pass of 32768 pairs takes two threads
};

/// Keys per block in d dimensions: PassShape::block_keys, halved while a block's coordinates
/// take more than PassShape::max_block_bytes.
template <class Scalar>
inline Index block_keys_for(Index d) {
  Index block = PassShape::block_keys;
  while (block > PassShape::min_block_keys &&
         block * d * static_cast<Index>(sizeof(Scalar)) > PassShape::max_block_bytes) {
    block /= 2;
  }
  return block;
}

/// Keys are padded to a multiple of this (a whole row of the register tile and a whole lane array).
template <class Scalar>
constexpr Index key_granule() {
  return TileShape<Scalar>::key_granule;
}

/// n keys rounded up to the granule: the rows of a padded key array.
template <class Scalar>
inline Index padded_key_count(Index n) {
  constexpr Index granule = key_granule<Scalar>();
  return (n + granule - 1) / granule * granule;
}

/// The cut of a pass of m queries against n keys into items.
class PassCut {
 public:
  /// The cut for m queries against n keys in d dimensions of type Scalar.
  template <class Scalar>
  static PassCut of(Index m, Index n, Index d) {
    return PassCut(m, n, block_keys_for<Scalar>(d), key_granule<Scalar>());
  }

  /// \param granule keys are padded to a multiple of it (a multiple of lane_count)
  PassCut(Index m, Index n, Index block, Index granule) : m_queries(m), m_keys(n), m_block(block) {
    m_padded = (n + granule - 1) / granule * granule;
    m_blocks = (m_padded + block - 1) / block;
    m_groups = (m + PassShape::group_queries - 1) / PassShape::group_queries;
    const Index wanted = m_groups == 0 ? 1 : (PassShape::target_items + m_groups - 1) / m_groups;
    m_shards = std::max<Index>(1, std::min(wanted, m_blocks / PassShape::shard_min_blocks));
  }

  Index queries() const { return m_queries; }
  Index keys() const { return m_keys; }
  /// The keys rounded up to the granule: what padded key arrays hold.
  Index padded_keys() const { return m_padded; }
  Index block_keys() const { return m_block; }
  Index blocks() const { return m_blocks; }
  Index shards() const { return m_shards; }
  Index items() const { return m_groups * m_shards; }
  /// Keys in the block that starts at key0 (the last block is shorter; a multiple of the granule).
  Index block_length(Index key0) const { return std::min(m_block, m_padded - key0); }

  /// What item `item` covers: queries [query0, query0 + count) against blocks
  /// [block_begin, block_end) of shard `shard`.
  struct Item {
    Index query0, count, block_begin, block_end, shard;
  };
  Item item(Index item) const {
    const Index group = item / m_shards, shard = item % m_shards;
    const Index query0 = group * PassShape::group_queries;
    return Item{query0, std::min(PassShape::group_queries, m_queries - query0),
                m_blocks * shard / m_shards, m_blocks * (shard + 1) / m_shards, shard};
  }

  /// The threads a pass runs on: at most `threads` (resolved, >= 1) and the items, and one per
  /// PassShape::pairs_per_thread pairs (tens of microseconds of work, against the microseconds a
  /// parallel region costs on an idle machine). On a machine busy with other work a descheduled
  /// thread can hold the region's closing barrier for a time slice: README.md's advice
  /// (OMP_WAIT_POLICY=passive, or `threads = 1`) applies there.
  int threads(int threads) const {
    const double pairs = static_cast<double>(m_queries) * static_cast<double>(m_keys);
    const double useful = pairs / PassShape::pairs_per_thread;
    if (threads <= 1 || items() <= 1 || useful < 2) return 1;
    const double team =
        std::min({static_cast<double>(threads), static_cast<double>(items()), useful});
    return static_cast<int>(team);
  }

 private:
  Index m_queries, m_keys, m_block;
  Index m_padded = 0, m_blocks = 0, m_groups = 0, m_shards = 1;
};

/// Detects a block accumulator's members, for the static_asserts of `drive`.
template <class Policy, class = void>
struct has_scratch : std::false_type {};
template <class Policy>
struct has_scratch<Policy, std::void_t<typename Policy::Scratch,
                                       decltype(std::declval<const Policy&>().scratch())>>
    : std::true_type {};
template <class Policy, class = void>
struct has_item_steps : std::false_type {};
template <class Policy>
struct has_item_steps<
    Policy,
    std::void_t<decltype(std::declval<Policy&>().begin_item(
                    std::declval<typename Policy::Scratch&>(),
                    std::declval<const PassCut::Item&>())),
                decltype(std::declval<Policy&>().add_block(
                    std::declval<typename Policy::Scratch&>(), std::declval<const PassCut::Item&>(),
                    Index{}, Index{})),
                decltype(std::declval<Policy&>().end_item(std::declval<typename Policy::Scratch&>(),
                                                          std::declval<const PassCut::Item&>()))>>
    : std::true_type {};

/// The driver: every item of `cut`, its key blocks in order, on `cut.threads(threads)` threads.
///
/// \tparam Policy a block accumulator: what is summed per item (a group of queries) and block
/// of keys, with
/// \code
///   using Scratch = ...;                     // per-thread working memory
///   Scratch scratch() const;                 // one per thread
///   void begin_item(Scratch&, const PassCut::Item&);   // e.g. clear the item's partial sums
///   void add_block(Scratch&, const PassCut::Item&, Index key0, Index length);
///   void end_item(Scratch&, const PassCut::Item&);     // store the item's per-query states
/// \endcode
/// `add_block` adds keys [key0, key0 + length) for the item's queries (length: a multiple of the
/// granule, the padding included). Items of different threads run at once and write disjoint
/// per-query states (state column shard m + query); merging shards and finishing each query is
/// the caller's, after `drive` returns (see for_each_query).
template <class Policy>
void drive(const PassCut& cut, int threads, Policy& policy) {
  static_assert(has_scratch<Policy>::value,
                "drive: the block accumulator needs `using Scratch = ...;` and "
                "`Scratch scratch() const;` (per-thread working memory)");
  static_assert(has_item_steps<Policy>::value,
                "drive: the block accumulator needs begin_item(Scratch&, const PassCut::Item&), "
                "add_block(Scratch&, const PassCut::Item&, Index key0, Index length) and "
                "end_item(Scratch&, const PassCut::Item&)");
  using Scratch = typename Policy::Scratch;
  const Index items = cut.items();
  auto run = [&](Index index, Scratch& scratch) {
    const PassCut::Item item = cut.item(index);
    policy.begin_item(scratch, item);
    for (Index block = item.block_begin; block < item.block_end; ++block) {
      const Index key0 = block * cut.block_keys();
      policy.add_block(scratch, item, key0, cut.block_length(key0));
    }
    policy.end_item(scratch, item);
  };
#if NADARAYA_HAS_OPENMP
  const int team = cut.threads(threads);
  // One thread: no parallel region at all (even an if(false) one costs the runtime's team setup,
  // a visible part of a call with 16 queries and 16 keys).
  if (team > 1) {
#pragma omp parallel num_threads(team)
    {
      Scratch scratch = policy.scratch();
#pragma omp for schedule(dynamic, 1)
      for (Index index = 0; index < items; ++index) run(index, scratch);
    }
    return;
  }
#else
  (void)threads;
#endif
  Scratch scratch = policy.scratch();
  for (Index index = 0; index < items; ++index) run(index, scratch);
}

/// Runs `body(q)` for q in [0, count) on the threads `cut` grants: the per-query finish of a
/// pass (merging shards, the rare scan for queries that no key reaches).
template <class Body>
void for_each_query(const PassCut& cut, int threads, Index count, Body&& body) {
#if NADARAYA_HAS_OPENMP
  const int team = cut.threads(threads);
  if (team > 1) {
#pragma omp parallel for num_threads(team) schedule(static)
    for (Index q = 0; q < count; ++q) body(q);
    return;
  }
#else
  (void)cut;
  (void)threads;
#endif
  for (Index q = 0; q < count; ++q) body(q);
}

}  // namespace detail
}  // namespace nadaraya

#endif  // NADARAYA_DETAIL_DRIVER_HPP
