#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Installs or upgrades the certfleet agent on one Windows PC.

.DESCRIPTION
    - verifies certfleet-agent.exe against the SHA256SUMS file published with it;
    - checks that only SYSTEM, Administrators and TrustedInstaller can change the install
      directory (SYSTEM runs the exe from there daily), creating a new directory with such an
      ACL, and refusing one that others can write;
    - copies certfleet-agent.exe there, only when it differs (a running report is stopped
      first; an upgrade in place keeps the data directory and so the PC's node key);
    - runs `certfleet-agent.exe install`, which sets up %ProgramData%\certfleet (private ACL
      for SYSTEM and Administrators before any secret is written; CA, enroll secret until the
      PC is enrolled, agent.toml, state) and registers the Scheduled Task
      \certfleet\certfleet-agent. The task runs `certfleet-agent report` as SYSTEM daily at
      -DailyAt plus up to -RandomDelayHours, and at start-up; every run first waits a random
      time of up to -StartupDelayMinutes (Task Scheduler's start-up trigger has no random
      delay of its own). A failed run is restarted -RestartCount times, every
      -RestartIntervalMinutes. The agent deletes the enroll secret once it holds a node key.

    Running it again with unchanged settings changes nothing (no file is rewritten, the task is
    not re-registered). -CaFile and -EnrollSecretFile may be omitted once installed / enrolled.
    Supports -WhatIf (the agent then prints what it would change) and -Confirm.

    The same task is registered by the MSI (certfleet-agent.msi); use one or the other.

.EXAMPLE
    .\install-agent.ps1 -CollectorUrl https://certfleet.example.org:50051 -CaFile .\ca.pem -EnrollSecretFile .\enroll-secret.txt -RunNow

.EXAMPLE
    .\install-agent.ps1 -CollectorUrl https://certfleet.example.org:443 -Proxy http://proxy.office.example:8080

.EXAMPLE
    .\install-agent.ps1 -CollectorUrl https://certfleet.example.org:50051 -WhatIf
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
param(
    # The collector's gRPC endpoint, as the agents reach it.
    [Parameter(Mandatory = $true)]
    [ValidatePattern('^https://[A-Za-z0-9.\-]+(:[0-9]{1,5})?/?$')]
    [string]$CollectorUrl,

    # The collector's CA certificate (ca.pem from `certfleet-collector init`).
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$CaFile,

    # File holding the enroll secret (enroll-secret.txt from `certfleet-collector init`). A file
    # rather than a parameter, so the secret never appears in command lines or GPO logs.
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$EnrollSecretFile,

    # The agent executable to install; default: next to this script.
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$AgentExe = (Join-Path -Path $PSScriptRoot -ChildPath 'certfleet-agent.exe'),

    # The SHA256SUMS file published with the release; default: next to the executable.
    [string]$Sha256SumsFile,

    # An agent.toml to install (issuers, office pattern, extra paths). Without it an existing
    # one is kept, or a default one is written.
    [ValidateScript({ Test-Path -LiteralPath $_ -PathType Leaf })]
    [string]$ConfigFile,

    # Local time of the daily report; the random delay is added to it.
    [ValidatePattern('^([01][0-9]|2[0-3]):[0-5][0-9]$')]
    [string]$DailyAt = '10:00',

    # Spread of the daily run. Office PCs are on during office hours: keep the window inside them.
    [ValidateRange(0, 12)]
    [int]$RandomDelayHours = 4,

    # Random wait of every run before it scans, which spreads the run at start-up.
    [ValidateRange(0, 240)]
    [int]$StartupDelayMinutes = 30,

    # Restarts of a failed run, and the minutes between them.
    [ValidateRange(0, 10)]
    [int]$RestartCount = 3,

    [ValidateRange(1, 720)]
    [int]$RestartIntervalMinutes = 30,

    [ValidateNotNullOrEmpty()]
    [string]$InstallDir = (Join-Path -Path $env:ProgramFiles -ChildPath 'certfleet'),

    [ValidateNotNullOrEmpty()]
    [string]$DataDir = (Join-Path -Path $env:ProgramData -ChildPath 'certfleet'),

    [ValidatePattern('^[A-Za-z0-9._\-]+$')]
    [string]$TaskName = 'certfleet-agent',

    # HTTP proxy the agent reaches the collector through: http://HOST:PORT (no credentials here:
    # put a proxy password in agent.toml's [collector] proxy and pass -ConfigFile), or 'none' to
    # ignore the WinHTTP setting. Without it the agent uses HTTPS_PROXY or, when unset, the
    # machine's WinHTTP proxy (netsh winhttp set proxy). Ends up as --proxy on the task's
    # command line; pass it again on every run of this script, like the other settings.
    [string]$Proxy,

    # Start the task once right after installing (first enrollment and report now).
    [switch]$RunNow
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$TaskPath = '\certfleet\'
$SystemSid = 'S-1-5-18'
$AdminsSid = 'S-1-5-32-544'
$UsersSid = 'S-1-5-32-545'
$TrustedInstallerSid = 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464'
$exeTarget = Join-Path -Path $InstallDir -ChildPath 'certfleet-agent.exe'

function Assert-ExeHash {
    # Fails unless the SHA-256 of $Path is the one SHA256SUMS lists for its file name.
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][string]$SumsFile
    )
    if (-not (Test-Path -LiteralPath $SumsFile -PathType Leaf)) {
        throw "$SumsFile not found: publish SHA256SUMS (from scripts/build-release.sh) next to certfleet-agent.exe, or pass -Sha256SumsFile"
    }
    $name = Split-Path -Path $Path -Leaf
    $expected = $null
    foreach ($line in Get-Content -LiteralPath $SumsFile) {
        # sha256sum's format: the hash, a space, a space or '*', the file name.
        if ($line -match '^([0-9A-Fa-f]{64}) [ *](.+)$' -and $Matches[2].Trim() -eq $name) {
            $expected = $Matches[1].ToUpperInvariant()
        }
    }
    if (-not $expected) {
        throw "$SumsFile lists no hash for $name"
    }
    $actual = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToUpperInvariant()
    if ($actual -ne $expected) {
        throw "$Path does not match $SumsFile (SHA-256 $actual, expected $expected): refusing to install it"
    }
}

function Assert-AdminOnlyWritable {
    # SYSTEM runs the exe from $Path every day: fails unless only SYSTEM, Administrators and
    # TrustedInstaller own it or may write to it, and no one else may delete it from $Parent.
    param([Parameter(Mandatory = $true)][string]$Path)
    $trusted = @($SystemSid, $AdminsSid, $TrustedInstallerSid)
    $writeRights = [System.Security.AccessControl.FileSystemRights]'WriteData, AppendData, WriteExtendedAttributes, WriteAttributes, Delete, DeleteSubdirectoriesAndFiles, ChangePermissions, TakeOwnership'
    $acl = Get-Acl -LiteralPath $Path
    $owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if ($trusted -notcontains $owner) {
        throw "$Path is owned by $owner; the install directory must be owned by SYSTEM, Administrators or TrustedInstaller"
    }
    $rules = $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])
    foreach ($rule in $rules) {
        $sid = $rule.IdentityReference.Value
        $inheritOnly = ($rule.PropagationFlags -band [System.Security.AccessControl.PropagationFlags]::InheritOnly) -ne 0
        if ($rule.AccessControlType -eq 'Allow' -and -not $inheritOnly -and $trusted -notcontains $sid -and
            ($rule.FileSystemRights -band $writeRights) -ne 0) {
            throw "$Path can be changed by $sid ($($rule.FileSystemRights)); SYSTEM would run whatever is put there. Choose a directory only administrators can write (the default is under %ProgramFiles%)"
        }
    }
    $parent = Split-Path -Path $Path -Parent
    if ($parent) {
        $parentRules = (Get-Acl -LiteralPath $parent).GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])
        foreach ($rule in $parentRules) {
            $sid = $rule.IdentityReference.Value
            if ($rule.AccessControlType -eq 'Allow' -and $trusted -notcontains $sid -and
                ($rule.FileSystemRights -band [System.Security.AccessControl.FileSystemRights]::DeleteSubdirectoriesAndFiles) -ne 0) {
                throw "$parent lets $sid delete or rename $Path; choose another install directory"
            }
        }
    }
}

function New-InstallDirectory {
    # Creates $Path with an ACL of its own: SYSTEM, Administrators and TrustedInstaller full
    # control, Users read and execute, nothing inherited (a directory under C:\ would otherwise
    # inherit "Authenticated Users: Modify").
    param([Parameter(Mandatory = $true)][string]$Path)
    if ($PSCmdlet.ShouldProcess($Path, 'Create the install directory (administrators only)')) {
        New-Item -ItemType Directory -Path $Path -Force | Out-Null
        $acl = New-Object -TypeName System.Security.AccessControl.DirectorySecurity
        $acl.SetAccessRuleProtection($true, $false)
        $acl.SetOwner((New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList $AdminsSid))
        foreach ($entry in @(@($SystemSid, 'FullControl'), @($AdminsSid, 'FullControl'), @($TrustedInstallerSid, 'FullControl'), @($UsersSid, 'ReadAndExecute'))) {
            $identity = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList $entry[0]
            $rule = New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList @(
                $identity, $entry[1], 'ContainerInherit,ObjectInherit', 'None', 'Allow')
            $acl.AddAccessRule($rule)
        }
        Set-Acl -LiteralPath $Path -AclObject $acl
    }
}

function Copy-IfDifferent {
    # Copies $Source to $Destination unless the destination already has the same content.
    # Returns $true when it copied.
    param(
        [Parameter(Mandatory = $true)][string]$Source,
        [Parameter(Mandatory = $true)][string]$Destination
    )
    if (Test-Path -LiteralPath $Destination -PathType Leaf) {
        $old = (Get-FileHash -LiteralPath $Destination -Algorithm SHA256).Hash
        $new = (Get-FileHash -LiteralPath $Source -Algorithm SHA256).Hash
        if ($old -eq $new) {
            return $false
        }
    }
    if ($PSCmdlet.ShouldProcess($Destination, "Copy from $Source")) {
        Copy-Item -LiteralPath $Source -Destination $Destination -Force
        return $true
    }
    return $false
}

# Parameter validation does not apply to defaults: check the default exe path too.
if (-not (Test-Path -LiteralPath $AgentExe -PathType Leaf)) {
    throw "certfleet-agent.exe not found at $AgentExe (pass -AgentExe)"
}
if (-not $Sha256SumsFile) {
    $Sha256SumsFile = Join-Path -Path (Split-Path -Path $AgentExe -Parent) -ChildPath 'SHA256SUMS'
}

# 1. The executable is the one that was published.
Assert-ExeHash -Path $AgentExe -SumsFile $Sha256SumsFile

# 2. The install directory: only administrators may change what SYSTEM runs.
if (-not (Test-Path -LiteralPath $InstallDir -PathType Container)) {
    New-InstallDirectory -Path $InstallDir
}
if (Test-Path -LiteralPath $InstallDir -PathType Container) {
    Assert-AdminOnlyWritable -Path $InstallDir
}

# 3. The program, replaced in place (the data directory, with the node key, is untouched).
$existingTask = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
$differs = -not (Test-Path -LiteralPath $exeTarget -PathType Leaf) -or
    (Get-FileHash -LiteralPath $exeTarget -Algorithm SHA256).Hash -ne (Get-FileHash -LiteralPath $AgentExe -Algorithm SHA256).Hash
if ($differs -and $existingTask -and $existingTask.State -eq 'Running') {
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Stop the running task to replace the executable')) {
        Stop-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath
    }
}
if (Copy-IfDifferent -Source $AgentExe -Destination $exeTarget) {
    Write-Verbose "installed $exeTarget"
}

# 4. Data directory, configuration, secrets and the Scheduled Task, by the agent itself (the
#    MSI's custom action runs the same command).
$installArguments = @(
    '--collector', $CollectorUrl,
    '--data-dir', $DataDir,
    '--daily-at', $DailyAt,
    '--random-delay-hours', $RandomDelayHours,
    '--startup-delay-minutes', $StartupDelayMinutes,
    '--restart-count', $RestartCount,
    '--restart-interval-minutes', $RestartIntervalMinutes,
    '--task-name', $TaskName
)
if ($CaFile) {
    $installArguments += @('--ca', (Resolve-Path -LiteralPath $CaFile).ProviderPath)
}
if ($EnrollSecretFile) {
    $installArguments += @('--enroll-secret-file', (Resolve-Path -LiteralPath $EnrollSecretFile).ProviderPath)
}
if ($ConfigFile) {
    $installArguments += @('--config', (Resolve-Path -LiteralPath $ConfigFile).ProviderPath)
}
if ($Proxy) {
    $installArguments += @('--proxy', $Proxy)
}
if ($RunNow) {
    $installArguments += '--run-now'
}
if ($PSCmdlet.ShouldProcess("$DataDir and task $TaskPath$TaskName", 'certfleet-agent.exe install')) {
    & $exeTarget install @installArguments
    if ($LASTEXITCODE -ne 0) {
        throw "certfleet-agent.exe install failed (exit code $LASTEXITCODE)"
    }
}
elseif ($WhatIfPreference) {
    # -WhatIf: the agent says what it would change, and changes nothing.
    & $AgentExe install @installArguments --dry-run
}

Write-Output "certfleet agent installed: $exeTarget, data in $DataDir, task $TaskPath$TaskName."
