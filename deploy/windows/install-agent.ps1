#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Installs or upgrades the certfleet agent on one Windows PC.

.DESCRIPTION
    - copies certfleet-agent.exe to %ProgramFiles%\certfleet;
    - writes the agent's configuration, the collector's CA certificate and the enroll secret to
      %ProgramData%\certfleet, whose ACL is replaced (inheritance removed) so that only SYSTEM
      and Administrators can read it; the agent's state (node key, spool) lives there too;
    - registers the Scheduled Task \certfleet\certfleet-agent that runs
      `certfleet-agent report ...` as SYSTEM daily and at start-up, each with a random delay so
      that a fleet does not report at the same second. As SYSTEM the agent reads every
      profile's Personal store files (C:\Users\*\AppData\Roaming\Microsoft\SystemCertificates\My)
      and the registry stores, so one task covers every user of the PC.

    Running it again upgrades: the executable is replaced when it differs, the task is
    re-registered, the ACL is re-applied. -CaFile and -EnrollSecretFile may then be omitted to
    keep the installed ones. Supports -WhatIf and -Confirm.

    Accounts are named by SID throughout (S-1-5-18 SYSTEM, S-1-5-32-544 Administrators): their
    names are localized (a Japanese Windows has no group called "Administrators").

.EXAMPLE
    .\install-agent.ps1 -CollectorUrl https://certfleet.example.org:50051 -CaFile .\ca.pem -EnrollSecretFile .\enroll-secret.txt -RunNow

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

    # Spread of the run at start-up.
    [ValidateRange(0, 240)]
    [int]$StartupDelayMinutes = 30,

    [ValidateNotNullOrEmpty()]
    [string]$InstallDir = (Join-Path -Path $env:ProgramFiles -ChildPath 'certfleet'),

    [ValidateNotNullOrEmpty()]
    [string]$DataDir = (Join-Path -Path $env:ProgramData -ChildPath 'certfleet'),

    [ValidatePattern('^[A-Za-z0-9._\-]+$')]
    [string]$TaskName = 'certfleet-agent',

    # Start the task once right after installing (first enrollment and report now).
    [switch]$RunNow
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

$TaskPath = '\certfleet\'
$SystemSid = 'S-1-5-18'
$AdminsSid = 'S-1-5-32-544'

$exeTarget = Join-Path -Path $InstallDir -ChildPath 'certfleet-agent.exe'
$caTarget = Join-Path -Path $DataDir -ChildPath 'ca.pem'
$secretTarget = Join-Path -Path $DataDir -ChildPath 'enroll-secret.txt'
$configTarget = Join-Path -Path $DataDir -ChildPath 'agent.toml'
$stateDir = Join-Path -Path $DataDir -ChildPath 'state'

# Used only when neither -ConfigFile nor an installed agent.toml exists. ASCII only: Windows
# PowerShell 5.1 would otherwise add a byte-order mark.
$defaultConfig = @'
# certfleet agent configuration, written by install-agent.ps1.
# See deploy/examples/agent.toml for every key.
issuers = ["KANAGAWA KOKUHOREN CA"]
office_pattern = '^\d{10}$'
'@

function Write-Utf8File {
    # Writes text as UTF-8 without a byte-order mark (the agent's TOML parser wants none).
    param(
        [Parameter(Mandatory = $true)][string]$Path,
        [Parameter(Mandatory = $true)][string]$Text
    )
    $encoding = New-Object -TypeName System.Text.UTF8Encoding -ArgumentList $false
    [System.IO.File]::WriteAllText($Path, $Text, $encoding)
}

function Set-PrivateAcl {
    # Replaces the ACL of $Path with: SYSTEM and Administrators full control, inherited by
    # everything below, nothing inherited from above (Users can read %ProgramData% by default).
    param([Parameter(Mandatory = $true)][string]$Path)
    $acl = New-Object -TypeName System.Security.AccessControl.DirectorySecurity
    $acl.SetAccessRuleProtection($true, $false)
    $admins = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList $AdminsSid
    $acl.SetOwner($admins)
    foreach ($sid in @($SystemSid, $AdminsSid)) {
        $identity = New-Object -TypeName System.Security.Principal.SecurityIdentifier -ArgumentList $sid
        $rule = New-Object -TypeName System.Security.AccessControl.FileSystemAccessRule -ArgumentList @(
            $identity, 'FullControl', 'ContainerInherit,ObjectInherit', 'None', 'Allow')
        $acl.AddAccessRule($rule)
    }
    Set-Acl -LiteralPath $Path -AclObject $acl
    # Files from an earlier install (or copied with their own ACL) inherit from the directory
    # again, with no explicit entries of their own.
    Get-ChildItem -LiteralPath $Path -Recurse -Force | ForEach-Object {
        & icacls.exe $_.FullName /reset /Q | Out-Null
        if ($LASTEXITCODE -ne 0) {
            throw "icacls /reset failed on $($_.FullName) (exit code $LASTEXITCODE)"
        }
    }
    # Owners may always rewrite an ACL: make Administrators the owner of everything, whoever
    # created it (the "object creator" owner policy would otherwise leave one admin's account).
    & icacls.exe $Path /setowner "*$AdminsSid" /T /Q | Out-Null
    if ($LASTEXITCODE -ne 0) {
        throw "icacls /setowner failed on $Path (exit code $LASTEXITCODE)"
    }
}

function Assert-SafeDataDir {
    # Any user may create folders in %ProgramData%. A folder planted there before the first
    # install would stay under its creator's control (an owner can always rewrite the ACL), and
    # a junction would redirect the secret elsewhere: refuse both instead of writing into them.
    param([Parameter(Mandatory = $true)][string]$Path)
    $me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User.Value
    $owner = (Get-Acl -LiteralPath $Path).GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if ($owner -ne $SystemSid -and $owner -ne $AdminsSid -and $owner -ne $me) {
        throw "$Path is owned by $owner, not by SYSTEM or Administrators; delete it and run again"
    }
    $items = @(Get-Item -LiteralPath $Path -Force) + @(Get-ChildItem -LiteralPath $Path -Recurse -Force)
    foreach ($item in $items) {
        if ($item.Attributes -band [System.IO.FileAttributes]::ReparsePoint) {
            throw "$($item.FullName) is a junction or link; delete it and run again"
        }
    }
}

function Assert-PrivateAcl {
    # Fails unless only SYSTEM and Administrators own $Path or are granted anything on it.
    param([Parameter(Mandatory = $true)][string]$Path)
    $acl = Get-Acl -LiteralPath $Path
    $owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value
    if ($owner -ne $SystemSid -and $owner -ne $AdminsSid) {
        throw "$Path is owned by $owner; expected SYSTEM or Administrators"
    }
    $rules = $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])
    foreach ($rule in $rules) {
        $sid = $rule.IdentityReference.Value
        if ($rule.AccessControlType -eq 'Allow' -and $sid -ne $SystemSid -and $sid -ne $AdminsSid) {
            throw "$Path is still accessible to $sid; refusing to leave the enroll secret readable"
        }
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
# Without a CA or a secret the agent could never enroll: require them on a first install.
if (-not $CaFile -and -not (Test-Path -LiteralPath $caTarget -PathType Leaf)) {
    throw "-CaFile is required: $caTarget does not exist yet"
}
if (-not $EnrollSecretFile -and -not (Test-Path -LiteralPath $secretTarget -PathType Leaf)) {
    throw "-EnrollSecretFile is required: $secretTarget does not exist yet"
}
if ($EnrollSecretFile -and ([string](Get-Content -LiteralPath $EnrollSecretFile -Raw)).Trim().Length -lt 16) {
    throw "$EnrollSecretFile does not hold an enroll secret (16 characters or more)"
}

# 1. Stop a running report so the executable can be replaced.
$existingTask = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
if ($existingTask -and $existingTask.State -eq 'Running') {
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Stop the running task')) {
        Stop-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath
    }
}

# 2. The program. %ProgramFiles% is writable only by administrators already.
foreach ($dir in @($InstallDir, $DataDir)) {
    if (-not (Test-Path -LiteralPath $dir -PathType Container)) {
        if ($PSCmdlet.ShouldProcess($dir, 'Create directory')) {
            New-Item -ItemType Directory -Path $dir -Force | Out-Null
        }
    }
}
if (Copy-IfDifferent -Source $AgentExe -Destination $exeTarget) {
    Write-Verbose "installed $exeTarget"
}

# 3. Lock the data directory BEFORE any secret is written into it, so the secret is never
#    readable by Users, not even for a moment.
if (Test-Path -LiteralPath $DataDir -PathType Container) {
    if ($PSCmdlet.ShouldProcess($DataDir, 'Restrict ACL to SYSTEM and Administrators')) {
        Assert-SafeDataDir -Path $DataDir
        Set-PrivateAcl -Path $DataDir
    }
}
if (-not (Test-Path -LiteralPath $stateDir -PathType Container)) {
    if ($PSCmdlet.ShouldProcess($stateDir, 'Create directory')) {
        New-Item -ItemType Directory -Path $stateDir -Force | Out-Null
    }
}

# 4. Configuration, CA and enroll secret.
if ($CaFile) {
    Copy-IfDifferent -Source $CaFile -Destination $caTarget | Out-Null
}
if ($EnrollSecretFile) {
    Copy-IfDifferent -Source $EnrollSecretFile -Destination $secretTarget | Out-Null
}
if ($ConfigFile) {
    Copy-IfDifferent -Source $ConfigFile -Destination $configTarget | Out-Null
}
elseif (-not (Test-Path -LiteralPath $configTarget -PathType Leaf)) {
    if ($PSCmdlet.ShouldProcess($configTarget, 'Write default agent configuration')) {
        Write-Utf8File -Path $configTarget -Text $defaultConfig
    }
}
# Copied files may carry explicit entries; make every file inherit the private ACL only.
if (Test-Path -LiteralPath $DataDir -PathType Container) {
    if ($PSCmdlet.ShouldProcess($DataDir, 'Re-apply and verify the private ACL')) {
        Set-PrivateAcl -Path $DataDir
        Assert-PrivateAcl -Path $DataDir
        Get-ChildItem -LiteralPath $DataDir -Recurse -Force | ForEach-Object {
            Assert-PrivateAcl -Path $_.FullName
        }
    }
}

# 5. The Scheduled Task. Arguments are quoted for the Windows command-line parser; none of the
#    paths ends in a backslash, which would escape the closing quote.
$arguments = @(
    'report',
    '--collector', ('"{0}"' -f $CollectorUrl),
    '--ca', ('"{0}"' -f $caTarget),
    '--enroll-secret-file', ('"{0}"' -f $secretTarget),
    '--state-dir', ('"{0}"' -f $stateDir),
    '--config', ('"{0}"' -f $configTarget)
) -join ' '
$action = New-ScheduledTaskAction -Execute $exeTarget -Argument $arguments -WorkingDirectory $DataDir
$daily = New-ScheduledTaskTrigger -Daily -At $DailyAt -RandomDelay (New-TimeSpan -Hours $RandomDelayHours)
$startup = New-ScheduledTaskTrigger -AtStartup -RandomDelay (New-TimeSpan -Minutes $StartupDelayMinutes)
# SYSTEM by SID: its name is localized. SYSTEM is what lets the agent read every profile's files.
$principal = New-ScheduledTaskPrincipal -UserId $SystemSid -LogonType ServiceAccount -RunLevel Highest
# StartWhenAvailable: a PC that was off at the daily time reports as soon as it is on again.
# IgnoreNew: a slow report is never run twice at once. The agent retries and spools by itself.
$settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -AllowStartIfOnBatteries `
    -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew `
    -ExecutionTimeLimit (New-TimeSpan -Minutes 30)
$description = "Reports this PC's client certificates to the certfleet collector $CollectorUrl."
if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Register scheduled task (replacing any previous one)')) {
    Register-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Action $action `
        -Trigger @($daily, $startup) -Principal $principal -Settings $settings `
        -Description $description -Force | Out-Null
}

if ($RunNow) {
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Start now')) {
        Start-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath
    }
}

Write-Output "certfleet agent installed: $exeTarget, data in $DataDir, task $TaskPath$TaskName."
