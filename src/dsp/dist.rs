//! Distortion (simple version; replaced shortly).
/// Distortion.
#[derive(Clone, Debug)]
pub struct Distortion { drive: f32, mix: f32 }
impl Distortion {
    /// New.
    pub fn new(_sample_rate: f32) -> Self { Self { drive: 0.0, mix: 0.0 } }
    /// Set.
    pub fn set(&mut self, drive: f32, mix: f32, _tone: f32) { self.drive = drive; self.mix = mix; }
    /// Tick.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 { let w = (x * (1.0 + 10.0 * self.drive)).tanh(); x * (1.0 - self.mix) + w * self.mix }
    /// Reset.
    pub fn reset(&mut self) {}
    /// Block.
    pub fn process(&mut self, buf: &mut [f32]) { for x in buf { *x = self.tick(*x); } }
}
