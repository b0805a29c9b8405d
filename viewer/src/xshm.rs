//! Drawing into the window through X11 shared memory (MIT-SHM). minifb writes every picture
//! through the X socket (`XPutImage`): 3.7 MB a 720p frame, copied into the socket by us and
//! out of it by the X server, which took longer than decoding the frame. Here the picture is
//! copied once into a segment the server reads directly, and the call returns when the server
//! has finished with it, so "handed to the screen" (`glass_ms`) means on screen.
//!
//! It needs a local X server that can attach our memory; where it cannot (a remote display, a
//! server without MIT-SHM, a picture format other than 32-bit xRGB), [`Shm::open`] or
//! [`Shm::draw`] says why and the window goes back to minifb's own drawing.

use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

use x11_dl::xlib::{self, Display, XErrorEvent, XImage, Xlib, GC};
use x11_dl::xshm::{XShmSegmentInfo, Xext};

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

/// One shared image of a fixed size, attached to the server.
struct Segment {
    image: *mut XImage,
    /// Referenced by `image` (its `obdata`), so it lives in a box at a stable address.
    info: Box<XShmSegmentInfo>,
    width: usize,
    height: usize,
}

/// A connection to the X server that draws into one window through shared memory.
pub struct Shm {
    xlib: Xlib,
    xext: Xext,
    display: *mut Display,
    window: xlib::Window,
    gc: GC,
    segment: Option<Segment>,
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
                segment: None,
            })
        }
    }

    /// Shows the `w`x`h` picture `pixels` (0RGB, row after row) in the window's top-left corner
    /// and returns once the X server has copied it.
    pub fn draw(&mut self, pixels: &[u32], w: usize, h: usize) -> Result<(), String> {
        if pixels.len() < w * h || w == 0 || h == 0 {
            return Err(format!("a {w}x{h} picture with {} pixels", pixels.len()));
        }
        let image = self.image(w, h)?;
        let errors = ERRORS.load(Ordering::SeqCst);
        // SAFETY: the segment is `w*h` 32-bit pixels (checked in `create_segment`), page
        // aligned, and the server is done reading it (every draw ends with XSync).
        unsafe {
            let shared = std::slice::from_raw_parts_mut((*image).data.cast::<u32>(), w * h);
            shared.copy_from_slice(&pixels[..w * h]);
            (self.xext.XShmPutImage)(
                self.display,
                self.window,
                self.gc,
                image,
                0,
                0,
                0,
                0,
                w as u32,
                h as u32,
                xlib::False,
            );
            (self.xlib.XSync)(self.display, xlib::False);
        }
        if ERRORS.load(Ordering::SeqCst) != errors {
            return Err("the X server refused the shared-memory picture".into());
        }
        Ok(())
    }

    /// The shared image for a `w`x`h` picture, made anew when the size changed.
    fn image(&mut self, w: usize, h: usize) -> Result<*mut XImage, String> {
        match &self.segment {
            Some(s) if (s.width, s.height) == (w, h) => return Ok(s.image),
            _ => {}
        }
        if let Some(old) = self.segment.take() {
            self.destroy(old);
        }
        let created = self.create_segment(w, h)?;
        Ok(self.segment.insert(created).image)
    }

    fn create_segment(&mut self, w: usize, h: usize) -> Result<Segment, String> {
        let (width, height) = (
            u32::try_from(w).map_err(|_| "too wide")?,
            u32::try_from(h).map_err(|_| "too tall")?,
        );
        // SAFETY: Xlib and System V shared-memory calls with checked results; every failure
        // path releases what was made before it.
        unsafe {
            let screen = (self.xlib.XDefaultScreen)(self.display);
            let visual = (self.xlib.XDefaultVisual)(self.display, screen);
            let depth = (self.xlib.XDefaultDepth)(self.display, screen);
            let mut info = Box::new(XShmSegmentInfo {
                shmseg: 0,
                shmid: -1,
                shmaddr: ptr::null_mut(),
                readOnly: xlib::True,
            });
            let image = (self.xext.XShmCreateImage)(
                self.display,
                visual,
                depth as u32,
                xlib::ZPixmap,
                ptr::null_mut(),
                &mut *info,
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
            let bytes = 4 * w * h;
            let id = libc::shmget(libc::IPC_PRIVATE, bytes, libc::IPC_CREAT | 0o600);
            if id < 0 {
                (self.xlib.XDestroyImage)(image);
                return Err(format!(
                    "cannot make {bytes} bytes of shared memory: {}",
                    std::io::Error::last_os_error()
                ));
            }
            let address = libc::shmat(id, ptr::null(), 0);
            // The segment goes away by itself once both sides have detached from it.
            let remove = || libc::shmctl(id, libc::IPC_RMID, ptr::null_mut());
            if address as isize == -1 {
                remove();
                (self.xlib.XDestroyImage)(image);
                return Err("cannot map the shared memory".into());
            }
            info.shmid = id;
            info.shmaddr = address.cast();
            (*image).data = address.cast();
            let errors = ERRORS.load(Ordering::SeqCst);
            let attached = (self.xext.XShmAttach)(self.display, &mut *info);
            (self.xlib.XSync)(self.display, xlib::False);
            remove();
            if attached == xlib::False || ERRORS.load(Ordering::SeqCst) != errors {
                libc::shmdt(address);
                (*image).data = ptr::null_mut();
                (self.xlib.XDestroyImage)(image);
                return Err("the X server cannot attach our memory (a remote display?)".into());
            }
            Ok(Segment {
                image,
                info,
                width: w,
                height: h,
            })
        }
    }

    fn destroy(&mut self, mut segment: Segment) {
        // SAFETY: the segment was attached by `create_segment` and is no longer drawn from.
        unsafe {
            (self.xext.XShmDetach)(self.display, &mut *segment.info);
            (self.xlib.XSync)(self.display, xlib::False);
            (*segment.image).data = ptr::null_mut();
            (self.xlib.XDestroyImage)(segment.image);
            libc::shmdt(segment.info.shmaddr.cast());
        }
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        if let Some(segment) = self.segment.take() {
            self.destroy(segment);
        }
        // SAFETY: the GC and the display were made in `open` and are used by nothing else.
        unsafe {
            (self.xlib.XFreeGC)(self.display, self.gc);
            (self.xlib.XCloseDisplay)(self.display);
        }
        OUR_DISPLAY.store(ptr::null_mut(), Ordering::SeqCst);
    }
}
