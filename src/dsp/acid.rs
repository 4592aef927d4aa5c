//! Acid filter (simple version; replaced shortly).
use super::LowPass;
/// Acid filter.
#[derive(Clone, Debug)]
pub struct AcidFilter { lp: LowPass, env: f32, cutoff: f32, modhz: f32 }
impl AcidFilter {
    /// New.
    pub fn new(sample_rate: f32) -> Self { Self { lp: LowPass::new(sample_rate), env: 0.0, cutoff: 1500.0, modhz: 0.0 } }
    /// Set params.
    #[allow(clippy::too_many_arguments)]
    pub fn set_params(&mut self, cutoff: f32, _res: f32, _env_amount: f32, _decay_s: f32, _drive: f32, _mix: f32, _vol_comp: f32, _accent: f32) { self.cutoff = cutoff; }
    /// Cutoff mod.
    pub fn set_cutoff_mod(&mut self, hz: f32) { self.modhz = hz; }
    /// Trigger.
    pub fn trigger(&mut self, _accent: bool) { self.env = 1.0; }
    /// Envelope.
    pub fn envelope(&self) -> f32 { self.env }
    /// Current cutoff.
    pub fn current_cutoff(&self) -> f32 { (self.cutoff + self.modhz).clamp(80.0, 5000.0) }
    /// Tick.
    #[inline]
    pub fn tick(&mut self, x: f32) -> f32 { let c = self.current_cutoff(); self.lp.set(c, 0.7); self.lp.tick(x) }
    /// Reset.
    pub fn reset(&mut self) { self.lp.reset(); self.env = 0.0; }
    /// Block.
    pub fn process(&mut self, buf: &mut [f32]) { for x in buf { *x = self.tick(*x); } }
}
