//! The batch writer's hot path: `ArrayRows::push`, which every issued token pays, encoding a
//! 1000-row batch into its reused binary-array buffers; and the partial-retry path's copy
//! of a range of it into fresh arrays. Throughput is in rows, so criterion's time per
//! element is ns/row. Run briefly on the shared box:
//!
//! ```text
//! cargo bench --bench batch_encode -- --warm-up-time 1 --measurement-time 2
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeauth::batch::TokenRow;
use edgeauth::batch::encode::{ArrayRows, UnnestParams};

const ROWS: usize = 1000;

/// A typical row: a short client id, two scopes, a one-hour token.
fn row(i: usize) -> TokenRow<'static> {
    TokenRow {
        jti: (0x5eed_u128 << 64 | (i as u128 + 1)).to_be_bytes(),
        client_id: "billing-service",
        scope: "invoices:read invoices:write",
        issued_at_unix_us: 1_767_225_600_000_000 + i as i64,
        expires_at_unix_us: 1_767_229_200_000_000 + i as i64,
    }
}

fn bench_encode(c: &mut Criterion) {
    let rows: Vec<TokenRow<'static>> = (0..ROWS).map(row).collect();
    let mut group = c.benchmark_group("batch_encode");
    group.throughput(Throughput::Elements(ROWS as u64));
    let mut arrays = ArrayRows::with_capacity(ROWS, 64);
    group.bench_function("push 1000 rows", |b| {
        b.iter(|| {
            arrays.clear();
            for r in &rows {
                arrays.push(black_box(r));
            }
            arrays.seal();
            black_box(arrays.params()[0].map(<[u8]>::len))
        })
    });
    let mut params = UnnestParams::default();
    group.bench_function("range of 1000 rows into fresh arrays", |b| {
        b.iter(|| {
            params.encode(black_box(&arrays), 0..ROWS);
            black_box(params.params()[0].map(<[u8]>::len))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_encode);
criterion_main!(benches);
