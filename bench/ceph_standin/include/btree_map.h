// SPDX-License-Identifier: MIT
// Stand-in for Ceph's include/btree_map.h: the btree it wraps, without the
// encode helpers.
#pragma once
#include "include/cpp-btree/btree_map.h"
#include "mb_ceph_standin.h"
