//! The Windows side of `certfleet-agent install`: [`WindowsPlatform`] applies and checks the
//! data directory's ACL (`acl`) and registers the Scheduled Task with `schtasks.exe` (present
//! on every Windows and in Wine), whose definition files under `%SystemRoot%\System32\Tasks`
//! say whether a task exists. The empty task folder is deleted through the Task Scheduler COM
//! API (`ITaskFolder::DeleteFolder`), which `schtasks.exe` cannot do.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr;

use windows_sys::Win32::Foundation::{SysAllocString, SysFreeString};
use windows_sys::Win32::System::Com::{
    CLSCTX_INPROC_SERVER, CLSCTX_LOCAL_SERVER, COINIT_MULTITHREADED, CoCreateInstance,
    CoInitializeEx, CoUninitialize,
};
use windows_sys::core::{BSTR, GUID, HRESULT};

use super::{acl, wide};
use crate::install::{ADMINISTRATORS_SID, InstallError, Platform, SYSTEM_SID, private_problem};

/// The real thing: Windows (or Wine) ACLs and Task Scheduler.
#[derive(Debug)]
pub struct WindowsPlatform {
    system_root: PathBuf,
    wine: bool,
}

impl WindowsPlatform {
    pub fn new() -> Self {
        let system_root = std::env::var_os("SystemRoot")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("C:\\Windows"));
        Self {
            system_root,
            wine: acl::is_wine(),
        }
    }

    fn schtasks(&self, args: &[&str]) -> Result<String, InstallError> {
        let exe = self.system_root.join("System32").join("schtasks.exe");
        let out = Command::new(&exe)
            .args(args)
            .output()
            .map_err(|e| InstallError::Platform(format!("cannot run {}: {e}", exe.display())))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(InstallError::Platform(format!(
                "schtasks {} failed ({}): {}",
                args.join(" "),
                out.status,
                text.trim()
            )))
        }
    }
}

impl Default for WindowsPlatform {
    fn default() -> Self {
        Self::new()
    }
}

/// True for the SID of the account running the installer (the owner of what it creates when
/// it is not a member of Administrators acting as the group).
fn is_me(sid: &str) -> bool {
    super::system::current_user_sid().is_some_and(|me| me == sid)
}

impl Platform for WindowsPlatform {
    fn keeps_acls(&self) -> bool {
        !self.wine
    }

    fn acl_problem(&self, path: &Path) -> Result<Option<String>, InstallError> {
        if self.wine {
            return Ok(None);
        }
        let info = acl::read(path).map_err(|e| InstallError::Io {
            what: "cannot read the ACL of",
            path: path.to_owned(),
            source: e,
        })?;
        Ok(private_problem(&info))
    }

    fn check_existing_data_dir(&self, dir: &Path) -> Result<(), InstallError> {
        // Any user may create folders in %ProgramData%: a folder planted before the first
        // install stays under its creator's control (an owner can always rewrite the ACL).
        if !self.wine {
            let info = acl::read(dir).map_err(|e| InstallError::Io {
                what: "cannot read the ACL of",
                path: dir.to_owned(),
                source: e,
            })?;
            match info.owner.as_deref() {
                Some(SYSTEM_SID | ADMINISTRATORS_SID) => {}
                Some(owner) if is_me(owner) => {}
                owner => {
                    return Err(InstallError::Unsafe {
                        path: dir.to_owned(),
                        message: format!(
                            "owned by {}, not by SYSTEM or Administrators; delete it and run again",
                            owner.unwrap_or("nobody")
                        ),
                    });
                }
            }
        }
        // A junction would redirect the secret elsewhere.
        let mut stack = vec![dir.to_owned()];
        while let Some(path) = stack.pop() {
            let meta = std::fs::symlink_metadata(&path).map_err(|e| InstallError::Io {
                what: "cannot read",
                path: path.clone(),
                source: e,
            })?;
            if is_reparse_point(&meta) {
                return Err(InstallError::Unsafe {
                    path,
                    message: "is a junction or link; delete it and run again".into(),
                });
            }
            if meta.is_dir() {
                let entries = std::fs::read_dir(&path).map_err(|e| InstallError::Io {
                    what: "cannot list",
                    path: path.clone(),
                    source: e,
                })?;
                for entry in entries.flatten() {
                    stack.push(entry.path());
                }
            }
        }
        Ok(())
    }

    fn make_private(&self, dir: &Path) -> Result<Option<String>, InstallError> {
        let failed = |path: &Path| {
            let path = path.to_owned();
            move |e| InstallError::Io {
                what: "cannot set the ACL of",
                path,
                source: e,
            }
        };
        acl::make_private_dir(dir).map_err(failed(dir))?;
        let mut stack: Vec<PathBuf> = read_children(dir)?;
        while let Some(path) = stack.pop() {
            acl::inherit_only(&path).map_err(failed(&path))?;
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                stack.extend(read_children(&path)?);
            }
        }
        if self.wine {
            return Ok(Some(
                "note: Wine keeps no file ACLs; the private ACL was set but cannot be verified here"
                    .into(),
            ));
        }
        // Verify what Windows now reports rather than trusting the calls.
        if let Some(problem) = self.acl_problem(dir)? {
            return Err(InstallError::Unsafe {
                path: dir.to_owned(),
                message: format!("still not private after setting its ACL ({problem})"),
            });
        }
        Ok(None)
    }

    fn task_exists(&self, path: &str) -> Result<bool, InstallError> {
        let file = crate::install::task::definition_file(&self.system_root, path);
        match std::fs::metadata(&file) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(InstallError::Io {
                what: "cannot read the task definition",
                path: file,
                source: e,
            }),
        }
    }

    fn register_task(&self, path: &str, definition_file: &Path) -> Result<(), InstallError> {
        let file = definition_file.to_string_lossy();
        self.schtasks(&["/Create", "/TN", path, "/XML", &file, "/F"])
            .map(|_| ())
    }

    fn run_task(&self, path: &str) -> Result<(), InstallError> {
        self.schtasks(&["/Run", "/TN", path]).map(|_| ())
    }

    fn delete_task(&self, path: &str) -> Result<bool, InstallError> {
        if !self.task_exists(path)? {
            return Ok(false);
        }
        self.schtasks(&["/Delete", "/TN", path, "/F"])?;
        Ok(true)
    }

    fn delete_task_folder(&self, folder: &str) -> Result<bool, InstallError> {
        delete_task_folder(folder).map_err(|e| {
            InstallError::Platform(format!("cannot delete the task folder \\{folder}: {e}"))
        })
    }
}

fn read_children(dir: &Path) -> Result<Vec<PathBuf>, InstallError> {
    let entries = std::fs::read_dir(dir).map_err(|e| InstallError::Io {
        what: "cannot list",
        path: dir.to_owned(),
        source: e,
    })?;
    Ok(entries.flatten().map(|e| e.path()).collect())
}

fn is_reparse_point(meta: &std::fs::Metadata) -> bool {
    #[cfg(windows)]
    {
        use std::os::windows::fs::MetadataExt;
        if meta.file_attributes() & 0x400 != 0 {
            return true;
        }
    }
    meta.file_type().is_symlink()
}

// --- Task Scheduler COM, only for ITaskFolder::DeleteFolder --------------------------------

/// CLSID_TaskScheduler {0F87369F-A4E5-4CFC-BD3E-73E6154572DD}.
const CLSID_TASK_SCHEDULER: GUID = GUID::from_u128(0x0f87369f_a4e5_4cfc_bd3e_73e6154572dd);
/// IID_ITaskService {2FABA4C7-4DA9-4013-9697-20CC3FD40F85}.
const IID_ITASK_SERVICE: GUID = GUID::from_u128(0x2faba4c7_4da9_4013_9697_20cc3fd40f85);

/// A VARIANT of type VT_EMPTY (all zero), as `ITaskService::Connect` takes four of them by
/// value. Same size and alignment as VARIANT on 64-bit Windows.
#[repr(C)]
#[derive(Clone, Copy)]
struct EmptyVariant {
    vt: u16,
    reserved: [u16; 3],
    data: [u64; 2],
}

const EMPTY: EmptyVariant = EmptyVariant {
    vt: 0,
    reserved: [0; 3],
    data: [0; 2],
};

type Release = unsafe extern "system" fn(*mut c_void) -> u32;

/// The first slots of ITaskService's vtable (IUnknown, IDispatch, then its own methods in
/// declaration order, taskschd.h).
#[repr(C)]
struct TaskServiceVtbl {
    query_interface: usize,
    add_ref: usize,
    release: Release,
    get_type_info_count: usize,
    get_type_info: usize,
    get_ids_of_names: usize,
    invoke: usize,
    get_folder: unsafe extern "system" fn(*mut c_void, BSTR, *mut *mut c_void) -> HRESULT,
    get_running_tasks: usize,
    new_task: usize,
    connect: unsafe extern "system" fn(
        *mut c_void,
        EmptyVariant,
        EmptyVariant,
        EmptyVariant,
        EmptyVariant,
    ) -> HRESULT,
}

/// The first slots of ITaskFolder's vtable.
#[repr(C)]
struct TaskFolderVtbl {
    query_interface: usize,
    add_ref: usize,
    release: Release,
    get_type_info_count: usize,
    get_type_info: usize,
    get_ids_of_names: usize,
    invoke: usize,
    get_name: usize,
    get_path: usize,
    get_folder: usize,
    get_folders: usize,
    create_folder: usize,
    delete_folder: unsafe extern "system" fn(*mut c_void, BSTR, i32) -> HRESULT,
}

/// A COM interface pointer, released on drop.
struct Com<V> {
    this: *mut c_void,
    vtbl: *const V,
    release: Release,
}

impl<V> Com<V> {
    /// # Safety
    /// `this` must be a live interface pointer whose vtable starts like `V`, with `release`
    /// its IUnknown::Release.
    unsafe fn new(this: *mut c_void, release: impl FnOnce(&V) -> Release) -> Self {
        // SAFETY: per the contract, `this` points to an object whose first field is its vtable.
        let vtbl = unsafe { *(this as *const *const V) };
        // SAFETY: the vtable is live as long as the object.
        let release = release(unsafe { &*vtbl });
        Com {
            this,
            vtbl,
            release,
        }
    }
}

impl<V> Drop for Com<V> {
    fn drop(&mut self) {
        // SAFETY: we own one reference to the live object and release it once.
        unsafe {
            (self.release)(self.this);
        }
    }
}

/// A BSTR, freed on drop.
struct Bstr(BSTR);

impl Bstr {
    fn new(text: &str) -> Self {
        let w = wide(text);
        // SAFETY: `w` is NUL-terminated; SysAllocString copies it.
        Bstr(unsafe { SysAllocString(w.as_ptr()) })
    }
}

impl Drop for Bstr {
    fn drop(&mut self) {
        // SAFETY: allocated by SysAllocString and freed once (null is allowed).
        unsafe { SysFreeString(self.0) }
    }
}

/// HRESULTs meaning "the folder is not there" or "it still holds tasks".
const E_FILE_NOT_FOUND: HRESULT = 0x8007_0002_u32 as HRESULT;
const E_PATH_NOT_FOUND: HRESULT = 0x8007_0003_u32 as HRESULT;
const E_DIR_NOT_EMPTY: HRESULT = 0x8007_0091_u32 as HRESULT;
const RPC_E_CHANGED_MODE: HRESULT = 0x8001_0106_u32 as HRESULT;

fn check(hr: HRESULT, what: &str) -> std::io::Result<()> {
    if hr < 0 {
        Err(std::io::Error::other(format!(
            "{what} failed: HRESULT {:#010x}",
            hr as u32
        )))
    } else {
        Ok(())
    }
}

/// Deletes `\<folder>` when it holds no task. `Ok(false)` when it does not exist or is not
/// empty (another task of the same folder).
fn delete_task_folder(folder: &str) -> std::io::Result<bool> {
    // SAFETY: initializes COM for this thread; balanced by CoUninitialize below unless another
    // apartment model was already chosen (then COM is usable and not ours to uninitialize).
    let init = unsafe { CoInitializeEx(ptr::null(), COINIT_MULTITHREADED as u32) };
    let uninit = init >= 0;
    if init < 0 && init != RPC_E_CHANGED_MODE {
        check(init, "CoInitializeEx")?;
    }
    let result = (|| {
        let mut service: *mut c_void = ptr::null_mut();
        // SAFETY: valid CLSID/IID pointers and an out-pointer for the interface.
        check(
            unsafe {
                CoCreateInstance(
                    &CLSID_TASK_SCHEDULER,
                    ptr::null_mut(),
                    CLSCTX_INPROC_SERVER | CLSCTX_LOCAL_SERVER,
                    &IID_ITASK_SERVICE,
                    &mut service,
                )
            },
            "creating the Task Scheduler service object",
        )?;
        // SAFETY: CoCreateInstance returned a live ITaskService.
        let service = unsafe { Com::<TaskServiceVtbl>::new(service, |v| v.release) };
        // SAFETY: `service` is live; empty VARIANTs connect to the local machine as the caller.
        check(
            unsafe { ((*service.vtbl).connect)(service.this, EMPTY, EMPTY, EMPTY, EMPTY) },
            "connecting to Task Scheduler",
        )?;
        let root_path = Bstr::new("\\");
        let mut root: *mut c_void = ptr::null_mut();
        // SAFETY: `service` is connected; `root_path` is a valid BSTR; `root` receives a
        // folder interface.
        check(
            unsafe { ((*service.vtbl).get_folder)(service.this, root_path.0, &mut root) },
            "opening the root task folder",
        )?;
        // SAFETY: GetFolder returned a live ITaskFolder.
        let root = unsafe { Com::<TaskFolderVtbl>::new(root, |v| v.release) };
        let name = Bstr::new(folder);
        // SAFETY: `root` is live; `name` is a valid BSTR.
        let hr = unsafe { ((*root.vtbl).delete_folder)(root.this, name.0, 0) };
        match hr {
            E_FILE_NOT_FOUND | E_PATH_NOT_FOUND | E_DIR_NOT_EMPTY => Ok(false),
            hr => check(hr, "deleting the task folder").map(|()| true),
        }
    })();
    if uninit {
        // SAFETY: balances the successful CoInitializeEx above, after every interface was
        // released.
        unsafe { CoUninitialize() };
    }
    result
}
