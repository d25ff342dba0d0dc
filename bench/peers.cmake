# Optional peers of `mballoc bench`, compiled from checkouts the user names
# (never part of this project, never needed by CI):
#   -DMB_CEPH_SRC=/path/to/ceph  Ceph BlueStore's Stupid, Avl and Bitmap
#       allocators (src/os/bluestore/*Allocator.cc, fastbmap_allocator_impl.cc)
#       with our glue (bench/peer_ceph.cc) and stand-ins for the few Ceph
#       headers they include (bench/ceph_standin; the same headers must be
#       absent from the checkout, see docs/BENCHMARKS.md).  Needs g++ and
#       Boost headers.
#   -DMB_SPDK_SRC=/path/to/spdk  SPDK's spdk_bit_pool (lib/util/bit_array.c,
#       math.c) with bench/peer_spdk.c and a stand-in spdk/env.h.
# Included from tools/mballoc/CMakeLists.txt once mballoc_cli exists.
set(MB_CEPH_SRC "" CACHE PATH "Ceph checkout: adds the ceph-* peers to mballoc bench")
set(MB_SPDK_SRC "" CACHE PATH "SPDK checkout: adds the spdk-bitpool peer to mballoc bench")

if(MB_CEPH_SRC)
  set(_ceph ${MB_CEPH_SRC}/src)
  set(_ceph_srcs ${_ceph}/os/bluestore/AvlAllocator.cc ${_ceph}/os/bluestore/BitmapAllocator.cc
    ${_ceph}/os/bluestore/StupidAllocator.cc ${_ceph}/os/bluestore/fastbmap_allocator_impl.cc)
  foreach(f ${_ceph_srcs} ${_ceph}/include/interval_set.h ${_ceph}/include/cpp-btree/btree_map.h)
    if(NOT EXISTS ${f})
      message(FATAL_ERROR "MB_CEPH_SRC=${MB_CEPH_SRC}: ${f} not found")
    endif()
  endforeach()
  # Their own includes find these by relative name first, so the Ceph
  # copies would win over the stand-ins.
  foreach(h include/mempool.h include/btree_map.h include/ceph_assert.h include/encoding.h
      common/debug.h common/ceph_mutex.h common/likely.h common/config_proxy.h
      os/bluestore/bluestore_types.h)
    if(EXISTS ${_ceph}/${h})
      message(FATAL_ERROR "MB_CEPH_SRC: remove src/${h} from the Ceph checkout "
        "(bench/ceph_standin/${h} stands in for it)")
    endif()
  endforeach()
  enable_language(CXX)
  find_path(MB_BOOST_INCLUDE_DIR boost/intrusive/avl_set.hpp)
  if(NOT MB_BOOST_INCLUDE_DIR)
    message(FATAL_ERROR "MB_CEPH_SRC: Ceph's allocators need Boost headers (libboost-dev)")
  endif()
  add_library(mb_ceph_peer STATIC ${MB_BENCH_DIR}/peer_ceph.cc ${_ceph_srcs})
  # ceph_standin/include and os/bluestore too: interval_set.h and
  # StupidAllocator.cc include "encoding.h" and "bluestore_types.h" by bare name
  target_include_directories(mb_ceph_peer PRIVATE ${MB_BENCH_DIR}/ceph_standin
    ${MB_BENCH_DIR}/ceph_standin/include ${MB_BENCH_DIR}/ceph_standin/os/bluestore ${MB_BENCH_DIR})
  # -isystem, searched after the stand-ins; their warnings are not ours
  target_include_directories(mb_ceph_peer SYSTEM PRIVATE ${_ceph} ${MB_BOOST_INCLUDE_DIR})
  set_target_properties(mb_ceph_peer PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF)
  # Our glue gets the project's warnings (less the C-only one); Ceph's
  # sources are measured, not linted.
  get_target_property(_opts mb_ceph_peer COMPILE_OPTIONS)
  list(REMOVE_ITEM _opts -Wstrict-prototypes)
  set_property(TARGET mb_ceph_peer PROPERTY COMPILE_OPTIONS ${_opts})
  set_source_files_properties(${_ceph_srcs} PROPERTIES COMPILE_OPTIONS "-w")
  target_compile_definitions(mballoc_cli PRIVATE MB_HAVE_CEPH)
  target_link_libraries(mballoc_cli PRIVATE mb_ceph_peer)
  message(STATUS "mballoc bench: Ceph peers from ${MB_CEPH_SRC}")
endif()

if(MB_SPDK_SRC)
  set(_spdk_srcs ${MB_SPDK_SRC}/lib/util/bit_array.c ${MB_SPDK_SRC}/lib/util/math.c)
  foreach(f ${_spdk_srcs} ${MB_SPDK_SRC}/include/spdk/bit_pool.h)
    if(NOT EXISTS ${f})
      message(FATAL_ERROR "MB_SPDK_SRC=${MB_SPDK_SRC}: ${f} not found")
    endif()
  endforeach()
  add_library(mb_spdk_peer STATIC ${MB_BENCH_DIR}/peer_spdk.c ${_spdk_srcs})
  # the stand-in env.h comes before SPDK's own
  target_include_directories(mb_spdk_peer PRIVATE ${MB_BENCH_DIR}/spdk_standin ${MB_BENCH_DIR}
    ${MB_SPDK_SRC}/include)
  set_source_files_properties(${_spdk_srcs} PROPERTIES COMPILE_OPTIONS "-w")
  target_link_libraries(mb_spdk_peer PRIVATE Threads::Threads)
  target_compile_definitions(mballoc_cli PRIVATE MB_HAVE_SPDK)
  target_link_libraries(mballoc_cli PRIVATE mb_spdk_peer)
  message(STATUS "mballoc bench: SPDK bit pool peer from ${MB_SPDK_SRC}")
endif()
