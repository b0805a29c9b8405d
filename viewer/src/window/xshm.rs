//! Drawing into the window through X11 shared memory (MIT-SHM). minifb writes every picture
//! through the X socket (`XPutImage`): 3.7 MB a 720p frame, copied into the socket by us and
//! out of it by the X server, which took longer than decoding the frame. Here the server reads
//! the picture straight from memory we share with it, and a draw returns when the server has
//! finished with it, so "handed to the screen" (`glass_ms`) means on screen.
//!
//! The window lends shared buffers ([`SharedPixels`]) to the decoders: a picture decoded into
//! one goes to the screen with no copy at all. Any other picture (a letterboxed canvas, the
//! waiting screen, a picture in ordinary memory) is copied once into a shared scratch buffer.
//!
//! It needs a local X server that can attach our memory; where it cannot (a remote display, a
//! server without MIT-SHM, a picture format other than 32-bit xRGB), [`Shm::open`] or
//! [`Shm::put`] says why and the window goes back to minifb's own drawing.

use std::ffi::c_int;
use std::ops::{Deref, DerefMut, Range};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use x11_dl::xlib::{self, Display, XErrorEvent, XImage, Xlib, GC};
use x11_dl::xshm::{XShmSegmentInfo, Xext};

use crate::board::LentPixels;

/// Set `VIEWER_NO_SHM=1` to draw through the X socket as minifb does (to compare, or to rule
/// this path out).
pub const DISABLE_VAR: &str = "VIEWER_NO_SHM";

type ErrorHandler = unsafe extern "C" fn(*mut Display, *mut XErrorEvent) -> c_int;

/// Our own display connection; X errors on it are counted instead of ending the process.
static OUR_DISPLAY: AtomicPtr<Display> = AtomicPtr::new(ptr::null_mut());
/// X errors seen on our connection.
static ERRORS: AtomicU64 = AtomicU64::new(0);
/// The handler that was installed before ours (Xlib's default one exits), as an address.
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);

/// Xlib calls this for every X protocol error of the process. Errors on our connection (a
/// server that cannot attach the memory, a window already gone) are counted and checked after
/// each call; errors on minifb's connection go to the previous handler as before.
unsafe extern "C" fn on_error(display: *mut Display, event: *mut XErrorEvent) -> c_int {
    if display == OUR_DISPLAY.load(Ordering::SeqCst) {
        ERRORS.fetch_add(1, Ordering::SeqCst);
        return 0;
    }
    match PREVIOUS.load(Ordering::SeqCst) {
        0 => 0,
        // SAFETY: the value was stored from a non-null `ErrorHandler` returned by Xlib.
        address => unsafe { std::mem::transmute::<usize, ErrorHandler>(address)(display, event) },
    }
}

/// A System V shared-memory segment mapped into this process, unmapped when the last holder
/// (a picture, or the window's list of segments) lets go.
struct Mapping {
    address: *mut u32,
    /// Size in pixels.
    capacity: usize,
}

// SAFETY: plain memory. It is written only through the one `SharedPixels` that owns it (or by
// `Shm` for its scratch buffer, which it never lends); the X server reads only the rows put,
// between `Shm::put` and `Shm::finish`, and the caller leaves those rows alone until then.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Makes and maps a private segment of `capacity` pixels; it is freed once unmapped here
    /// and detached by the server.
    fn new(capacity: usize) -> Result<(Mapping, c_int), String> {
        let bytes = capacity.checked_mul(4).ok_or("too large")?;
        // SAFETY: System V calls with checked results.
        unsafe {
            let id = libc::shmget(libc::IPC_PRIVATE, bytes, libc::IPC_CREAT | 0o600);
            if id < 0 {
                return Err(format!(
                    "cannot make {bytes} bytes of shared memory: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let address = libc::shmat(id, ptr::null(), 0);
            if address as isize == -1 {
                libc::shmctl(id, libc::IPC_RMID, ptr::null_mut());
                return Err("cannot map the shared memory".into());
            }
            let mapping = Mapping {
                address: address.cast(),
                capacity,
            };
            Ok((mapping, id))
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: mapped in `new`, and nothing refers to it any more.
        unsafe { libc::shmdt(self.address.cast()) };
    }
}

/// Pixel memory shared with the X server, lent by the window to a decoder: a picture decoded
/// into it is shown without a copy. Dereferences to its first `len` pixels.
pub struct SharedPixels {
    mapping: Arc<Mapping>,
    len: usize,
}

impl LentPixels for SharedPixels {
    fn capacity(&self) -> usize {
        self.mapping.capacity
    }

    fn set_len(&mut self, len: usize) {
        self.len = len.min(self.capacity());
    }
}

impl Deref for SharedPixels {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        // SAFETY: `len` is at most the mapping's capacity, and the mapping lives as long as
        // `self` holds it.
        unsafe { std::slice::from_raw_parts(self.mapping.address, self.len) }
    }
}

impl DerefMut for SharedPixels {
    fn deref_mut(&mut self) -> &mut [u32] {
        // SAFETY: as above; `&mut self` is the only way to write (see `Mapping`).
        unsafe { std::slice::from_raw_parts_mut(self.mapping.address, self.len) }
    }
}

impl std::fmt::Debug for SharedPixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedPixels({} of {})", self.len, self.capacity())
    }
}

/// A segment the server has attached, with an image header for the size last drawn from it.
struct Segment {
    mapping: Arc<Mapping>,
    /// Referenced by `image` (its `obdata`), so it lives in a box at a stable address.
    info: Box<XShmSegmentInfo>,
    image: Option<(*mut XImage, usize, usize)>,
}

/// A connection to the X server that draws into one window through shared memory.
pub struct Shm {
    xlib: Xlib,
    xext: Xext,
    display: *mut Display,
    window: xlib::Window,
    gc: GC,
    /// Every segment attached: the ones lent to decoders, and the scratch one.
    segments: Vec<Segment>,
    /// Index in `segments` of the buffer other pictures are copied into.
    scratch: Option<usize>,
    /// X errors counted before the first put not yet finished.
    errors_before: Option<u64>,
}

impl Shm {
    /// Connects to the display (`$DISPLAY`, as minifb does) to draw into `window`.
    pub fn open(window: xlib::Window) -> Result<Shm, String> {
        if std::env::var_os(DISABLE_VAR).is_some_and(|v| v != "0") {
            return Err(format!("{DISABLE_VAR} is set"));
        }
        let xlib = Xlib::open().map_err(|e| format!("cannot load libX11: {e}"))?;
        let xext = Xext::open().map_err(|e| format!("cannot load libXext: {e}"))?;
        // SAFETY: plain Xlib calls on a connection only this struct uses, on one thread.
        unsafe {
            let display = (xlib.XOpenDisplay)(ptr::null());
            if display.is_null() {
                return Err("cannot open the display".into());
            }
            if (xext.XShmQueryExtension)(display) == xlib::False {
                (xlib.XCloseDisplay)(display);
                return Err("the X server has no MIT-SHM extension".into());
            }
            let previous = (xlib.XSetErrorHandler)(Some(on_error));
            if let Some(previous) =
                previous.filter(|p| *p as usize != on_error as *const () as usize)
            {
                PREVIOUS.store(previous as usize, Ordering::SeqCst);
            }
            OUR_DISPLAY.store(display, Ordering::SeqCst);
            let gc = (xlib.XCreateGC)(display, window, 0, ptr::null_mut());
            Ok(Shm {
                xlib,
                xext,
                display,
                window,
                gc,
                segments: Vec::new(),
                scratch: None,
                errors_before: None,
            })
        }
    }

    /// A buffer of `capacity` pixels for a decoder to decode into, attached to the server.
    pub fn lend(&mut self, capacity: usize) -> Result<SharedPixels, String> {
        let i = self.attach(capacity)?;
        Ok(SharedPixels {
            mapping: self.segments[i].mapping.clone(),
            len: 0,
        })
    }

    /// Has the X server copy `rows` of the `w`x`h` picture `pixels` (0RGB, row after row) to
    /// the same rows of the window's top-left corner, without waiting: it copies while the
    /// caller goes on (with other rows); the picture must stay as it is in `rows` until
    /// [`Shm::finish`]. Pixels in a lent buffer are read in place; only a whole picture may come
    /// from elsewhere (it is copied into the scratch buffer first).
    pub fn put(
        &mut self,
        pixels: &[u32],
        w: usize,
        h: usize,
        rows: Range<usize>,
    ) -> Result<(), String> {
        if pixels.len() < w * h || w == 0 || h == 0 || rows.start >= rows.end || rows.end > h {
            return Err(format!(
                "rows {rows:?} of a {w}x{h} picture with {} pixels",
                pixels.len()
            ));
        }
        let lent = self
            .segments
            .iter()
            .position(|s| ptr::eq(s.mapping.address, pixels.as_ptr()));
        let i = match lent {
            Some(i) => i,
            None if rows == (0..h) => {
                let i = self.scratch_for(w * h)?;
                // SAFETY: the scratch segment holds at least `w*h` pixels, is never lent, and
                // the server is done reading it (each put is finished, with XSync, before the
                // next).
                let scratch = unsafe {
                    std::slice::from_raw_parts_mut(self.segments[i].mapping.address, w * h)
                };
                scratch.copy_from_slice(&pixels[..w * h]);
                i
            }
            None => return Err("part of a picture that is not in shared memory".into()),
        };
        let image = self.image(i, w, h)?;
        self.errors_before
            .get_or_insert(ERRORS.load(Ordering::SeqCst));
        let (top, tall) = (rows.start as c_int, (rows.end - rows.start) as u32);
        // SAFETY: `image` describes `w*h` pixels of segment `i`, which holds the picture.
        unsafe {
            (self.xext.XShmPutImage)(
                self.display,
                self.window,
                self.gc,
                image,
                0,
                top,
                0,
                top,
                w as u32,
                tall,
                xlib::False,
            );
            // Sent now, not when Xlib's buffer next goes out: the server copies meanwhile.
            (self.xlib.XFlush)(self.display);
        }
        Ok(())
    }

    /// Waits until the X server has copied everything [`Shm::put`] asked for.
    pub fn finish(&mut self) -> Result<(), String> {
        // SAFETY: an Xlib call on our connection.
        unsafe { (self.xlib.XSync)(self.display, xlib::False) };
        let before = self.errors_before.take();
        if before.is_some_and(|e| e != ERRORS.load(Ordering::SeqCst)) {
            return Err("the X server refused the shared-memory picture".into());
        }
        Ok(())
    }

    /// The scratch segment, made (anew) when it is missing or smaller than `pixels`.
    fn scratch_for(&mut self, pixels: usize) -> Result<usize, String> {
        if let Some(i) = self.scratch {
            if self.segments[i].mapping.capacity >= pixels {
                return Ok(i);
            }
            let old = self.segments.swap_remove(i);
            self.scratch = None;
            self.detach(old);
        }
        let i = self.attach(pixels)?;
        self.scratch = Some(i);
        Ok(i)
    }

    /// Makes a segment of `capacity` pixels and has the server attach it; its index.
    fn attach(&mut self, capacity: usize) -> Result<usize, String> {
        let (mapping, id) = Mapping::new(capacity)?;
        let mut info = Box::new(XShmSegmentInfo {
            shmseg: 0,
            shmid: id,
            shmaddr: mapping.address.cast(),
            readOnly: xlib::True,
        });
        let errors = ERRORS.load(Ordering::SeqCst);
        // SAFETY: an Xlib call on our connection with a filled-in segment description.
        let attached = unsafe {
            let attached = (self.xext.XShmAttach)(self.display, &mut *info);
            (self.xlib.XSync)(self.display, xlib::False);
            // The segment goes away by itself once both sides have detached from it.
            libc::shmctl(id, libc::IPC_RMID, ptr::null_mut());
            attached
        };
        if attached == xlib::False || ERRORS.load(Ordering::SeqCst) != errors {
            return Err("the X server cannot attach our memory (a remote display?)".into());
        }
        self.segments.push(Segment {
            mapping: Arc::new(mapping),
            info,
            image: None,
        });
        Ok(self.segments.len() - 1)
    }

    /// An image header for `w`x`h` pixels of segment `i`, made anew when the size changed.
    fn image(&mut self, i: usize, w: usize, h: usize) -> Result<*mut XImage, String> {
        let segment = &mut self.segments[i];
        match segment.image {
            Some((image, iw, ih)) if (iw, ih) == (w, h) => return Ok(image),
            Some((image, _, _)) => {
                segment.image = None;
                // SAFETY: a header made below; its pixels are not its own to free.
                unsafe {
                    (*image).data = ptr::null_mut();
                    (self.xlib.XDestroyImage)(image);
                }
            }
            None => {}
        }
        let (width, height) = (
            u32::try_from(w).map_err(|_| "too wide")?,
            u32::try_from(h).map_err(|_| "too tall")?,
        );
        // SAFETY: Xlib calls on our connection; the header points into the segment, which
        // holds at least `w*h` pixels (checked by the callers).
        unsafe {
            let screen = (self.xlib.XDefaultScreen)(self.display);
            let visual = (self.xlib.XDefaultVisual)(self.display, screen);
            let depth = (self.xlib.XDefaultDepth)(self.display, screen);
            let image = (self.xext.XShmCreateImage)(
                self.display,
                visual,
                depth as u32,
                xlib::ZPixmap,
                ptr::null_mut(),
                &mut *segment.info,
                width,
                height,
            );
            if image.is_null() {
                return Err("cannot create a shared image".into());
            }
            let i = &*image;
            let xrgb = i.bits_per_pixel == 32
                && i.bytes_per_line as usize == 4 * w
                && (i.red_mask, i.green_mask, i.blue_mask) == (0xFF_0000, 0xFF00, 0xFF)
                && i.byte_order == xlib::LSBFirst
                && cfg!(target_endian = "little");
            if !xrgb {
                (self.xlib.XDestroyImage)(image);
                return Err("the display's pixels are not 32-bit xRGB".into());
            }
            (*image).data = segment.mapping.address.cast();
            segment.image = Some((image, w, h));
            Ok(image)
        }
    }

    /// Has the server let go of a segment; the memory is unmapped once no picture holds it.
    fn detach(&mut self, mut segment: Segment) {
        // SAFETY: the segment was attached by `attach`; its header, if any, was made by
        // `image` and does not own the pixels.
        unsafe {
            if let Some((image, _, _)) = segment.image.take() {
                (*image).data = ptr::null_mut();
                (self.xlib.XDestroyImage)(image);
            }
            (self.xext.XShmDetach)(self.display, &mut *segment.info);
            (self.xlib.XSync)(self.display, xlib::False);
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        for segment in std::mem::take(&mut self.segments) {
            self.detach(segment);
        }
        // SAFETY: the GC and the display were made in `open` and are used by nothing else.
        unsafe {
            (self.xlib.XFreeGC)(self.display, self.gc);
            (self.xlib.XCloseDisplay)(self.display);
        }
        OUR_DISPLAY.store(ptr::null_mut(), Ordering::SeqCst);
    }
}
