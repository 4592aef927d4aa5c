//! Reverb (simple version; replaced shortly).
use super::flush_denormal;
/// Reverb.
#[derive(Clone, Debug)]
pub struct Reverb { buf: Vec<f32>, pos: usize, fb: f32 }
impl Reverb {
    /// New.
    pub fn new(sample_rate: f32) -> Self { Self { buf: vec![0.0; (sample_rate * 0.05) as usize + 1], pos: 0, fb: 0.5 } }
    /// Set.
    pub fn set(&mut self, room: f32, _damp: f32) { self.fb = 0.5 + 0.4 * room.clamp(0.0, 1.0); }
    /// Tick.
    #[inline]
    pub fn tick(&mut self, x: f32) -> (f32, f32) { let y = self.buf[self.pos]; self.buf[self.pos] = flush_denormal(x + y * self.fb); self.pos = (self.pos + 1) % self.buf.len(); (y, y) }
    /// Reset.
    pub fn reset(&mut self) { self.buf.iter_mut().for_each(|v| *v = 0.0); self.pos = 0; }
    /// Block.
    pub fn process(&mut self, input: &[f32], left: &mut [f32], right: &mut [f32]) { for i in 0..input.len().min(left.len()).min(right.len()) { let (l, r) = self.tick(input[i]); left[i] = l; right[i] = r; } }
}
