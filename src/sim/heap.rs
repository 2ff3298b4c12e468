//! A first-fit heap allocator model in the spirit of ESP-IDF's `multi_heap`:
//! address-ordered blocks, 4-byte alignment, a per-block header, splitting
//! on allocation and coalescing on free. The twin's free/min/largest numbers
//! (and so its fragmentation) come out of the allocation pattern instead of
//! being made up.

use std::collections::{BTreeMap, HashMap};

/// Bytes of bookkeeping in front of every block (`multi_heap` keeps a
/// header per block; allocations therefore cost a little more than asked).
pub const BLOCK_HEADER: u32 = 8;
/// Allocation granularity.
pub const ALIGN: u32 = 4;
/// A free remainder smaller than this (header included) is not split off:
/// it stays part of the allocated block, like a real allocator's minimum
/// block size.
pub const MIN_SPLIT: u32 = BLOCK_HEADER + 16;

/// A live allocation. Only the heap that handed it out can free it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockId(u64);

#[derive(Debug, Clone, Copy)]
struct Block {
    /// Total size including the header.
    size: u32,
    /// `Some` when allocated.
    owner: Option<BlockId>,
}

/// One heap region (internal RAM or PSRAM).
#[derive(Debug, Clone)]
pub struct HeapModel {
    name: String,
    capacity: u32,
    /// Every block by start address; adjacent blocks tile the region.
    blocks: BTreeMap<u32, Block>,
    /// Where each live allocation starts.
    live: HashMap<BlockId, u32>,
    next_id: u64,
    free_bytes: u32,
    min_free: u32,
}

impl HeapModel {
    /// A heap of `capacity_bytes` holding one free block.
    pub fn new(name: &str, capacity_bytes: u32) -> Self {
        let capacity = capacity_bytes - capacity_bytes % ALIGN;
        let mut blocks = BTreeMap::new();
        blocks.insert(
            0,
            Block {
                size: capacity,
                owner: None,
            },
        );
        let free_bytes = capacity.saturating_sub(BLOCK_HEADER);
        HeapModel {
            name: name.to_owned(),
            capacity,
            blocks,
            live: HashMap::new(),
            next_id: 0,
            free_bytes,
            min_free: free_bytes,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// First fit over the address-ordered free blocks. `None` when no single
    /// free block is big enough, even if the total free memory would be.
    pub fn alloc(&mut self, size: u32) -> Option<BlockId> {
        let payload = size.max(1).checked_add(ALIGN - 1)? / ALIGN * ALIGN;
        let need = payload.checked_add(BLOCK_HEADER)?;
        let (&addr, &block) = self
            .blocks
            .iter()
            .find(|(_, b)| b.owner.is_none() && b.size >= need)?;
        let id = BlockId(self.next_id);
        self.next_id += 1;
        let rest = block.size - need;
        let taken = if rest >= MIN_SPLIT {
            self.blocks.insert(
                addr + need,
                Block {
                    size: rest,
                    owner: None,
                },
            );
            need
        } else {
            block.size
        };
        self.blocks.insert(
            addr,
            Block {
                size: taken,
                owner: Some(id),
            },
        );
        self.live.insert(id, addr);
        // The old free block counted size − header; what stays free is the
        // remainder minus its own new header.
        let remaining_free = if taken == need {
            rest.saturating_sub(BLOCK_HEADER)
        } else {
            0
        };
        self.free_bytes = self.free_bytes - (block.size - BLOCK_HEADER) + remaining_free;
        self.min_free = self.min_free.min(self.free_bytes);
        Some(id)
    }

    /// Frees a block and merges it with free neighbours on both sides.
    /// Returns false for an unknown (already freed or foreign) id.
    pub fn free(&mut self, id: BlockId) -> bool {
        let Some(mut addr) = self.live.remove(&id) else {
            return false;
        };
        let Some(mut size) = self.blocks.get(&addr).map(|b| b.size) else {
            return false;
        };
        self.free_bytes += size - BLOCK_HEADER;
        // Next neighbour.
        if let Some(next) = self.blocks.get(&(addr + size)).copied() {
            if next.owner.is_none() {
                self.blocks.remove(&(addr + size));
                size += next.size;
                self.free_bytes += BLOCK_HEADER;
            }
        }
        // Previous neighbour.
        if let Some((&prev_addr, prev)) = self.blocks.range(..addr).next_back() {
            if prev.owner.is_none() && prev_addr + prev.size == addr {
                let prev_size = prev.size;
                self.blocks.remove(&addr);
                addr = prev_addr;
                size += prev_size;
                self.free_bytes += BLOCK_HEADER;
            }
        }
        self.blocks.insert(addr, Block { size, owner: None });
        true
    }

    /// Bytes free (payload, headers excluded), like `heap_caps_get_free_size`.
    pub fn free_bytes(&self) -> u32 {
        self.free_bytes
    }

    /// Lowest `free_bytes` since creation or the last [`reset_min`](Self::reset_min).
    pub fn min_free_bytes(&self) -> u32 {
        self.min_free
    }

    /// The biggest allocation that would succeed right now.
    pub fn largest_free_block(&self) -> u32 {
        self.blocks
            .values()
            .filter(|b| b.owner.is_none())
            .map(|b| b.size.saturating_sub(BLOCK_HEADER))
            .max()
            .unwrap_or(0)
    }

    /// Starts a new low-water mark at the current free size (a reboot).
    pub fn reset_min(&mut self) {
        self.min_free = self.free_bytes;
    }

    /// Number of live allocations.
    pub fn live_blocks(&self) -> usize {
        self.live.len()
    }

    /// Number of free blocks (holes plus the tail).
    pub fn free_block_count(&self) -> usize {
        self.blocks.values().filter(|b| b.owner.is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: u32 = 10_000;

    fn heap() -> HeapModel {
        HeapModel::new("test", CAP)
    }

    #[test]
    fn fresh_heap_is_one_free_block() {
        let h = heap();
        assert_eq!(h.free_bytes(), CAP - BLOCK_HEADER);
        assert_eq!(h.largest_free_block(), CAP - BLOCK_HEADER);
        assert_eq!(h.min_free_bytes(), CAP - BLOCK_HEADER);
        assert_eq!(h.free_block_count(), 1);
    }

    #[test]
    fn alloc_splits_and_costs_aligned_size_plus_header() {
        let mut h = heap();
        let before = h.free_bytes();
        h.alloc(101).expect("fits");
        // 101 → 104 aligned, + 8 header.
        assert_eq!(before - h.free_bytes(), 104 + BLOCK_HEADER);
        assert_eq!(h.free_block_count(), 1);
        assert_eq!(h.largest_free_block(), h.free_bytes());
    }

    #[test]
    fn free_coalesces_with_next_neighbour() {
        let mut h = heap();
        let a = h.alloc(100).expect("a");
        let _b = h.alloc(100).expect("b");
        assert!(h.free(a));
        // a is a hole before b; the tail is separate.
        assert_eq!(h.free_block_count(), 2);
        let full = h.free_bytes();
        let mut h2 = heap();
        let a2 = h2.alloc(100).expect("a");
        assert!(h2.free(a2));
        // a merges into the tail: back to one block, nothing lost.
        assert_eq!(h2.free_block_count(), 1);
        assert_eq!(h2.free_bytes(), CAP - BLOCK_HEADER);
        assert!(full < CAP);
    }

    #[test]
    fn free_coalesces_with_both_neighbours() {
        let mut h = heap();
        let a = h.alloc(100).expect("a");
        let b = h.alloc(200).expect("b");
        let c = h.alloc(300).expect("c");
        let _guard = h.alloc(50).expect("guard");
        assert!(h.free(a));
        assert!(h.free(c));
        assert_eq!(h.free_block_count(), 3);
        assert!(h.free(b));
        // a, b and c became one hole in front of the guard.
        assert_eq!(h.free_block_count(), 2);
        let hole = 100 + 200 + 300 + 3 * BLOCK_HEADER - BLOCK_HEADER;
        let tail = CAP - (600 + 3 * BLOCK_HEADER) - (52 + BLOCK_HEADER) - BLOCK_HEADER;
        assert_eq!(h.free_bytes(), hole + tail);
        // The merged hole is reusable in one piece.
        let big = h.alloc(hole).expect("whole hole");
        assert!(h.free(big));
    }

    #[test]
    fn double_free_is_refused() {
        let mut h = heap();
        let a = h.alloc(10).expect("a");
        assert!(h.free(a));
        assert!(!h.free(a));
    }

    #[test]
    fn low_water_mark_survives_frees_until_reset() {
        let mut h = heap();
        let a = h.alloc(4000).expect("a");
        let low = h.free_bytes();
        assert!(h.free(a));
        assert_eq!(h.min_free_bytes(), low);
        assert!(h.free_bytes() > low);
        h.reset_min();
        assert_eq!(h.min_free_bytes(), h.free_bytes());
    }

    #[test]
    fn largest_block_sees_holes() {
        let mut h = heap();
        let a = h.alloc(3000).expect("a");
        let _b = h.alloc(100).expect("b");
        let _c = h.alloc(5000).expect("c");
        assert!(h.free(a));
        // Hole of 3000 B before b, tail after c.
        let tail = CAP - (3000 + 100 + 5000 + 3 * BLOCK_HEADER) - BLOCK_HEADER;
        assert_eq!(h.largest_free_block(), 3000.max(tail));
        assert_eq!(h.free_bytes(), 3000 + tail);
    }

    #[test]
    fn fails_when_no_block_fits_although_total_free_is_enough() {
        let mut h = HeapModel::new("frag", 1000);
        let blocks: Vec<BlockId> = (0..8).map(|_| h.alloc(100).expect("fill")).collect();
        // Free every other block: four holes of 100 B, plus a small tail.
        for id in blocks.iter().step_by(2) {
            assert!(h.free(*id));
        }
        assert!(h.free_bytes() >= 400);
        assert!(h.largest_free_block() < 200);
        assert_eq!(h.alloc(200), None);
        // A small one still fits into a hole (first fit: the lowest one).
        assert!(h.alloc(90).is_some());
    }

    #[test]
    fn small_remainder_is_not_split() {
        let mut h = HeapModel::new("exact", 1000);
        let all = h.free_bytes();
        let a = h.alloc(all - 8).expect("nearly all");
        // The remainder (8 B) is below MIN_SPLIT: nothing left free.
        assert_eq!(h.free_bytes(), 0);
        assert_eq!(h.largest_free_block(), 0);
        assert!(h.free(a));
        assert_eq!(h.free_bytes(), all);
    }
}
